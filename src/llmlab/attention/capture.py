"""Capture attention probabilities, one (B, heads, T, T) array per layer, from any HF causal LM or the NumPy
GPT.

    model = load_attention_model("gpt2")            # a Hub name, a model directory, or "numpy:DIR"
    cap = model.capture_text("The cat sat on the mat")
    cap.probs.shape                                  # (L, B, H, T, T); cap.tokens[0] the token strings

HF models run with `output_attentions=True` under eager attention (transformers records each attention
module's weights with forward hooks; fused SDPA/flash kernels never form them), switched back afterwards.
The NumPy GPT keeps P = softmax(S) of its last forward for its backward pass; we read it, not recompute it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llmlab.errors import LabError
from llmlab.generation.context_limit import context_length
from llmlab.hub import load_hf_tokenizer


@dataclass
class AttentionCapture:
    """Attention probabilities of one forward pass. probs[l, b, h, i, j] = how much query i attends to key
    j."""
    probs: np.ndarray                        # (L, B, H, T, T) float32
    ids: np.ndarray                          # (B, T) int
    tokens: list[list[str]] = field(default_factory=list)   # B lists of T token strings
    model: str = ""

    @property
    def n_layers(self) -> int:
        return self.probs.shape[0]

    @property
    def n_heads(self) -> int:
        return self.probs.shape[2]

    @property
    def seq_len(self) -> int:
        return self.probs.shape[-1]

    def layer(self, index: int) -> np.ndarray:
        """(B, H, T, T) of one layer."""
        return self.probs[index]

    def sequence(self, b: int = 0) -> np.ndarray:
        """(L, H, T, T) of one sequence of the batch."""
        return self.probs[:, b]

    def validity(self) -> dict[str, float]:
        """How far the capture is from a causal attention: max |row sum - 1| and the largest weight above
        the diagonal (a key in the future), both 0 up to rounding for a correct capture."""
        t = self.seq_len
        future = np.triu(np.ones((t, t), dtype=bool), k=1)
        return {"max_row_sum_error": float(np.abs(self.probs.sum(-1) - 1.0).max()),
                "max_future_weight": float(self.probs[..., future].max()) if t > 1 else 0.0}


def _clean(token: str) -> str:
    """A token as a label: whitespace made visible, so 'Ġthe'/' the' and '\\n' read clearly."""
    return token.replace("\n", "\\n").replace("\t", "\\t")


class AttentionModel:
    """A model whose attention can be captured: `encode`, `capture_ids`, `capture_text`, and its shape."""
    name: str
    n_layers: int
    n_heads: int
    vocab_size: int
    max_positions: int | None
    tokenizer: Any = None

    def encode(self, text: str) -> list[int]:
        if self.tokenizer is None:
            raise LabError(f"{self.name} has no tokenizer, so text cannot be encoded",
                           hint="save the tokenizer files next to the model (tokenizer.json)")
        ids = (
            list(self.tokenizer(text)["input_ids"])
            if callable(self.tokenizer)
            else self.tokenizer.encode(text)
        )
        if not ids:
            raise LabError("the text encodes to no tokens", hint="give a non-empty --text")
        if self.max_positions and len(ids) > self.max_positions:
            raise LabError(f"context is {self.max_positions} tokens; the text has {len(ids)}",
                           hint="shorten the text")
        return ids

    def token_strings(self, ids) -> list[str]:
        if self.tokenizer is None:
            return [str(int(i)) for i in ids]
        return [_clean(self.tokenizer.decode([int(i)])) for i in ids]

    def capture_text(self, text: str) -> AttentionCapture:
        return self.capture_ids(np.array([self.encode(text)]))

    def capture_ids(self, ids: np.ndarray) -> AttentionCapture:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim == 1:
            ids = ids[None]
        probs = self._forward(ids)
        if probs.shape[:2] != (self.n_layers, ids.shape[0]) or probs.shape[-1] != ids.shape[1]:
            raise LabError(f"captured attention has shape {probs.shape} for ids {ids.shape}",
                           hint="this model's attention layout is not supported")
        return AttentionCapture(probs.astype(np.float32), ids, [self.token_strings(row) for row in ids],
                                self.name)

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class HFAttentionModel(AttentionModel):
    """Any transformers causal LM (GPT-2, Llama, Qwen, ...), captured through `output_attentions=True`."""

    def __init__(self, model, tokenizer=None, name: str = ""):
        self.model = model.eval()
        self.tokenizer = tokenizer
        cfg = model.config
        self.name = name or getattr(cfg, "_name_or_path", "") or type(model).__name__
        self.n_layers = cfg.num_hidden_layers
        self.n_heads = cfg.num_attention_heads
        self.vocab_size = cfg.vocab_size
        self.max_positions = context_length(cfg)

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        import torch

        model = self.model
        previous = model.config._attn_implementation
        if previous != "eager":            # only eager attention materialises the probabilities
            model.set_attn_implementation("eager")
        try:
            device = next(model.parameters()).device
            with torch.no_grad():
                out = model(input_ids=torch.as_tensor(ids, device=device), output_attentions=True,
                            use_cache=False)
        finally:
            if previous != "eager":
                model.set_attn_implementation(previous)
        if not out.attentions:
            raise LabError(f"{self.name} returned no attention probabilities",
                           hint="the model must support eager attention (attn_implementation='eager')")
        return np.stack([a.float().cpu().numpy() for a in out.attentions])     # (L, B, H, T, T)


class NumpyAttentionModel(AttentionModel):
    """The NumPy GPT of project 1 (`llmlab.numpy_transformer.GPT`)."""

    def __init__(self, gpt, tokenizer=None, name: str = "numpy-gpt"):
        self.model, self.tokenizer, self.name = gpt, tokenizer, name
        cfg = gpt.config
        self.n_layers, self.n_heads = cfg.n_layer, cfg.n_head
        self.vocab_size, self.max_positions = cfg.vocab_size, cfg.n_positions

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        self.model(ids)
        # each CausalSelfAttention keeps (q, k, v, P) from its forward for the backward pass; P is (B, H, T,
        # T)
        probs = [block.attn._saved[3].copy() for block in self.model.h]
        for block in self.model.h:
            block.attn._saved = None
        return np.stack(probs)


def load_attention_model(spec: str | Path, device: str = "cpu") -> AttentionModel:
    """`gpt2` / `TinyLlama/...` (Hub, needs a network once), a model directory, or `numpy:DIR` (NumPy GPT)."""
    spec = str(spec)
    if spec.startswith("numpy:"):
        from llmlab.numpy_transformer import GPT

        directory = spec.removeprefix("numpy:")
        if not Path(directory).is_dir():
            raise LabError(f"no model directory {directory!r}",
                           hint="give numpy:DIR with a GPT-2 config.json")
        return NumpyAttentionModel(GPT.from_pretrained(directory), load_hf_tokenizer(directory,
                                                                                     required=False),
                                   f"numpy:{directory}")
    from llmlab.hub import load_causal_lm

    # eager attention: the fused kernels never materialise the probabilities the hooks read
    model, tokenizer = load_causal_lm(spec, device=device, dtype="float32", require_tokenizer=False,
                                      attn_implementation="eager",
                                      hint="a Hub name needs a network the first time; offline, train the "
                                           "toy "
                                           "model with `llmlab attention train-toy --out DIR` and pass "
                                           "--model DIR")
    return HFAttentionModel(model, tokenizer, spec)
