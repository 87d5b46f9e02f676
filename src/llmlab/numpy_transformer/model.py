"""`GPT`: GPT-2's architecture in NumPy — embeddings, pre-LN blocks, final LayerNorm, tied LM head —
with a hand-written backward pass, float32 or float64.

    model = GPT(GPTConfig(vocab_size=65, n_layer=4, n_head=4, n_embd=128, n_positions=256))
    logits = model(ids)                          # ids (B, T) int -> logits (B, T, V)
    loss = model.forward(ids, targets); model.backward()   # gradients: named_parameters(), grads_of(name)
    model = GPT.from_pretrained("gpt2-dir", dtype=np.float64); model.save_pretrained("out-dir")
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from llmlab.errors import LabError
from llmlab.numpy_transformer.block import Block, BlockConfig
from llmlab.numpy_transformer.embedding import Embedding, SinusoidalPositions
from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.layernorm import LayerNorm
from llmlab.numpy_transformer.loss import IGNORE_INDEX, CrossEntropy
from llmlab.numpy_transformer.masks import attention_bias
from llmlab.numpy_transformer.module import Module

DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass
class GPTConfig:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None                  # MLP width; None means 4 * n_embd
    activation_function: str = "gelu_new"
    layer_norm_epsilon: float = 1e-5
    positional: str = "learned"                 # "learned" (GPT-2's wpe) or "sinusoidal"
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    tie_word_embeddings: bool = True
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise LabError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}",
                           hint="pick n_head so that each head gets n_embd / n_head features")
        if self.positional not in ("learned", "sinusoidal"):
            raise LabError(f"unknown positional encoding {self.positional!r}",
                           hint="use learned or sinusoidal")

    def to_dict(self) -> dict:
        return asdict(self)

    def block_config(self, layer: int) -> BlockConfig:
        """Block `layer`'s settings, GPT-2's way: residual projections initialised with std / sqrt(2 n_layer)
        (each block adds two of them to the residual stream), attention scaled by 1 / sqrt(head size)."""
        scale = (self.n_embd // self.n_head) ** -0.5 if self.scale_attn_weights else 1.0
        if self.scale_attn_by_inverse_layer_idx:
            scale /= layer + 1
        std = self.initializer_range
        return BlockConfig(n_embd=self.n_embd, n_head=self.n_head, n_inner=self.n_inner or 4 * self.n_embd,
                           eps=self.layer_norm_epsilon, activation=self.activation_function,
                           std=std, proj_std=std / math.sqrt(2 * self.n_layer), attn_scale=scale)


def resolve_dtype(dtype) -> np.dtype:
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise LabError(f"dtype {dtype!r} is not supported", hint="use float32 or float64")
        dtype = DTYPES[dtype]
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise LabError(f"dtype {dtype} is not supported", hint="use float32 or float64")
    return dtype


class GPT(Module):
    def __init__(self, config: GPTConfig, dtype="float32", seed: int = 0):
        super().__init__()
        self.config = cfg = config
        self.dtype = resolve_dtype(dtype)
        rng = np.random.default_rng(seed)
        std = cfg.initializer_range
        self.wte = Embedding(cfg.vocab_size, cfg.n_embd, rng, self.dtype, std)
        self.wpe = (Embedding(cfg.n_positions, cfg.n_embd, rng, self.dtype,
                              std) if cfg.positional == "learned"
                    else SinusoidalPositions(cfg.n_positions, cfg.n_embd, self.dtype))
        self.h = [Block(cfg.block_config(i), rng, self.dtype) for i in range(cfg.n_layer)]
        self.ln_f = LayerNorm(cfg.n_embd, cfg.layer_norm_epsilon, self.dtype)
        # GPT-2 ties the head to wte; an untied head is (V, C) as in HF
        self.lm_head = None
        if not cfg.tie_word_embeddings:
            self.lm_head = Module()
            self.lm_head.add_param("weight", (rng.standard_normal((cfg.vocab_size,
                                                                   cfg.n_embd)) * std).astype(self.dtype))
        self.criterion = CrossEntropy(IGNORE_INDEX)
        self._saved: tuple | None = None

    # ---- the forward pass -------------------------------------------------------------------------
    def __call__(self, ids, attention_mask=None, position_ids=None,
                 cache: KVCache | None = None) -> np.ndarray:
        """Logits (B, T, V) for token ids (B, T) (or (T,) -> (T, V))."""
        ids = np.asarray(ids)
        logits = self.forward(ids.reshape(1, -1) if ids.ndim == 1 else ids, None, attention_mask,
                              position_ids, cache)
        return logits[0] if ids.ndim == 1 else logits

    def forward(self, ids: np.ndarray, targets: np.ndarray | None = None, attention_mask=None,
                position_ids=None, cache: KVCache | None = None):
        """Logits (B, T, V), or — given targets (B, T), `IGNORE_INDEX` where no loss is wanted — the mean
        cross-entropy, keeping what `backward()` needs. Targets are the next tokens: targets[:, t] = ids[:,
        t+1]."""
        cfg = self.config
        ids = self._check_ids(ids, cache)
        b, t = ids.shape
        past = cache.length if cache is not None else 0
        if position_ids is None:
            position_ids = np.arange(past, past + t)[None, :]              # (1, T)
        position_ids = np.asarray(position_ids)
        key_mask = self._key_mask(attention_mask, b, t, past, cache)
        bias = attention_bias(t, past + t, key_mask, self.dtype)           # (1 or B, 1, T, Tk)
        x = self.wte.forward(ids)                                          # (B, T, C)
        x += self.wpe.forward(position_ids)                                # (1 or B, T, C), broadcast
        for i, block in enumerate(self.h):
            x = block.forward(x, bias, cache, i)
        if cache is not None:
            cache.advance(t)
        hidden = self.ln_f.forward(x).reshape(-1, cfg.n_embd)             # (N, C), N = B T
        logits = hidden @ self._head_weight().T                            # (N, V)
        if targets is None:
            return logits.reshape(b, t, -1)
        targets = np.asarray(targets).reshape(-1)
        if targets.shape[0] != b * t:
            raise LabError(f"targets have {targets.shape[0]} entries for {b}x{t} tokens",
                           hint="give targets the same (B, T) shape as the ids")
        self._saved = (hidden, b, t, position_ids.shape[0])
        return self.criterion.forward(logits, targets)

    def evaluate(self, ids: np.ndarray, targets: np.ndarray, attention_mask=None) -> float:
        """The loss alone, keeping nothing for a backward pass (validation)."""
        loss = self.forward(ids, targets, attention_mask)
        self._saved = None
        return loss

    def backward(self, dloss: float = 1.0) -> None:
        """Gradients of the last `forward(ids, targets)` loss, written into every parameter's `grad`."""
        if self._saved is None:
            raise LabError("backward() needs a forward pass with targets first",
                           hint="call loss = model.forward(ids, targets) and then model.backward()")
        hidden, b, t, pos_rows = self._saved
        dlogits = self.criterion.backward(dloss)                           # (N, V)
        head = self._head_weight()
        head_grad = (self.wte if self.lm_head is None else self.lm_head).grads["weight"]
        np.matmul(dlogits.T, hidden, out=head_grad)                        # (V, C): dW = dzᵀ h
        dx = self.ln_f.backward((dlogits @ head).reshape(b, t, -1))        # (B, T, C)
        for block in reversed(self.h):
            dx = block.backward(dx)
        self.wte.backward(dx, accumulate=self.lm_head is None)
        self.wpe.backward(dx.sum(axis=0, keepdims=True) if pos_rows == 1 and b > 1 else dx)
        self._saved = None

    def _head_weight(self) -> np.ndarray:
        """(V, C): the token embedding itself when tied (GPT-2), else the separate head."""
        return (self.wte if self.lm_head is None else self.lm_head).params["weight"]

    def _check_ids(self, ids, cache: KVCache | None) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise LabError(f"token ids must be an int array (B, T); got {ids.dtype} {ids.shape}",
                           hint="pass np.array([[...]]) of token ids")
        past = cache.length if cache is not None else 0
        if past + ids.shape[1] > self.config.n_positions:
            raise LabError(f"context is {self.config.n_positions} tokens; the input has "
                           f"{past + ids.shape[1]}",
                           hint="shorten the input (keep its last n_positions tokens)")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise LabError(f"token ids must be in [0, {self.config.vocab_size}); got "
                           f"{ids.min()}..{ids.max()}",
                           hint="encode with the tokenizer the model was trained with")
        if cache is not None:
            cache.check_room(ids.shape[1])
        return ids

    @staticmethod
    def _key_mask(attention_mask, b: int, t: int, past: int, cache: KVCache | None) -> np.ndarray | None:
        """(B, past + T) bool of the keys that are real tokens, or None when nothing is padded.
        With a cache, a mask may cover just the new tokens (B, T) or everything so far (B, past + T)."""
        if attention_mask is None:
            if cache is None:
                return None
            cache.key_mask[:, past:past + t] = True
            return None if cache.key_mask[:, :past + t].all() else cache.key_mask[:, :past + t]
        mask = np.asarray(attention_mask).astype(bool)
        if mask.shape not in ((b, t), (b, past + t)):
            raise LabError(f"attention_mask is {mask.shape}; expected ({b}, {t})"
                           + (f" or ({b}, {past + t})" if past else ""),
                           hint="1 for real tokens, 0 for padding")
        if cache is None:
            return mask
        cache.key_mask[:, past:past + t] = mask[:, -t:]
        return cache.key_mask[:, :past + t]

    def make_stepper(self, context: int | None = None):
        """What `llmlab.generation`'s decoding loop drives: prefill, then one token at a time on the KV
        cache."""
        from llmlab.numpy_transformer.sampling import KVCacheStepper

        return KVCacheStepper(self, context)

    # ---- weights ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters under transformers' GPT2LMHeadModel names ("transformer.h.0.attn.c_attn.weight")."""
        from llmlab.numpy_transformer.checkpoint import to_hf_name

        return {to_hf_name(name): p for name, p, _ in self.named_parameters()}

    def state_dict_grads(self) -> dict[str, np.ndarray]:
        """The gradients, under the same names as `state_dict()`."""
        from llmlab.numpy_transformer.checkpoint import to_hf_name

        return {to_hf_name(name): g for name, _, g in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        from llmlab.numpy_transformer.checkpoint import load_into

        load_into(self, state)

    @classmethod
    def from_pretrained(cls, directory, dtype="float32") -> GPT:
        from llmlab.numpy_transformer.checkpoint import from_pretrained

        return from_pretrained(directory, dtype)

    def save_pretrained(self, directory) -> None:
        from llmlab.numpy_transformer.checkpoint import save_pretrained

        save_pretrained(self, directory)
