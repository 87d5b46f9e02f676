"""The four character-level language models: vanilla RNN, LSTM, GRU, and a GPT-style Transformer.

    model = build_model(cfg, vocab_size)      # cfg: a CharLMConfig (presets.py)
    model, tok = load_charlm("runs/charlm/lstm/best")

The RNNs are one torch.nn.RNN/LSTM/GRU stack between an embedding and a linear head; forward(ids, state)
returns (logits, state) so decoding carries the hidden state instead of re-reading the text. The
Transformer is Hugging Face's `GPT2LMHeadModel` from a small config, so its checkpoint is an HF
directory like every transformer the lab writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from llmlab.errors import LabError

ARCHITECTURES = ("rnn", "lstm", "gru", "transformer")


class CharRNN(nn.Module):
    """Embedding (V -> E) -> RNN/LSTM/GRU stack (E -> H, n_layer deep) -> Linear (H -> V).

    Vanilla RNN:  h_t = tanh(W_x x_t + W_h h_{t-1} + b)
    LSTM adds input/forget/output gates and a cell c_t = f*c_{t-1} + i*g; GRU gates with reset/update.
    """

    stateful = True   # decoders keep the hidden state between steps (llmlab.generation.steppers)

    def __init__(self, kind: str, vocab_size: int, n_embd: int, hidden: int, n_layer: int,
                 dropout: float = 0.0):
        super().__init__()
        if kind not in ("rnn", "lstm", "gru"):
            raise LabError(f"unknown recurrent cell {kind!r}", hint="use rnn, lstm or gru")
        self.kind, self.vocab_size, self.n_embd, self.hidden, self.n_layer = (
            kind,
            vocab_size,
            n_embd,
            hidden,
            n_layer,
        )
        self.dropout = dropout
        cell = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.embed = nn.Embedding(vocab_size, n_embd)
        self.rnn = cell(n_embd, hidden, num_layers=n_layer, batch_first=True,
                        dropout=dropout if n_layer > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        x = self.drop(self.embed(ids))                   # (B, T, E)
        h, state = self.rnn(x, state)                    # (B, T, H); state (n_layer, B, H) (LSTM: a pair)
        return self.head(self.drop(h)), state            # (B, T, V)

    def config_dict(self) -> dict[str, Any]:
        return {"model": self.kind, "vocab_size": self.vocab_size, "n_embd": self.n_embd,
                "hidden": self.hidden,
                "n_layer": self.n_layer, "dropout": self.dropout}


def build_transformer(vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int,
                      dropout: float = 0.0) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    if n_embd % n_head:
        raise LabError(f"n_embd {n_embd} is not divisible by n_head {n_head}",
                       hint="pick n_embd as a multiple of n_head, e.g. --set n_embd=384 --set n_head=6")
    config = GPT2Config(vocab_size=vocab_size, n_positions=block_size, n_embd=n_embd, n_layer=n_layer,
                        n_head=n_head, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
                        bos_token_id=None, eos_token_id=None, pad_token_id=None, tie_word_embeddings=True,
                        # exact GELU, as nanoGPT: one fused kernel, where GPT-2's "gelu_new" is five
                        activation_function="gelu")
    return GPT2LMHeadModel(config)


def build_model(cfg, vocab_size: int) -> nn.Module:
    if cfg.model == "transformer":
        return build_transformer(vocab_size, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.dropout)
    if cfg.model in ("rnn", "lstm", "gru"):
        return CharRNN(cfg.model, vocab_size, cfg.n_embd, cfg.hidden, cfg.n_layer, cfg.dropout)
    raise LabError(f"unknown model {cfg.model!r}", hint="use one of " + ", ".join(ARCHITECTURES))


def load_charlm(directory: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, Any]:
    """Model + CharTokenizer from a checkpoint folder (or a run folder: its best/, else checkpoint/)."""
    from llmlab.tokenizer import load_tokenizer

    path = Path(directory)
    for candidate in (path, path / "best", path / "checkpoint"):
        if (candidate / "model.safetensors").exists():
            path = candidate
            break
    else:
        raise LabError(f"no trained char LM in {directory}",
                       hint="train one first: llmlab charlm train --arch lstm --corpus python-docs --out DIR")
    meta = path / "llmlab_model.json"
    if meta.exists():
        from safetensors.torch import load_file

        cfg = json.loads(meta.read_text(encoding="utf-8"))
        model = CharRNN(cfg["model"], cfg["vocab_size"], cfg["n_embd"], cfg["hidden"], cfg["n_layer"],
                        cfg["dropout"])
        model.load_state_dict(load_file(str(path / "model.safetensors")))
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(path))
    return model.to(device).eval(), load_tokenizer(path)
