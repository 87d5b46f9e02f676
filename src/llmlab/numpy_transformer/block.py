"""The MLP and the pre-LN residual block of GPT-2.

    MLP:    m(x) = act(x W_fc + b_fc) W_proj + b_proj              (B, T, C) -> (B, T, 4C) -> (B, T, C)
    Block:  h = x + attn(ln_1(x));   out = h + mlp(ln_2(h))
backward follows the residual rule: the gradient reaching a sum is passed unchanged to both of its
terms, so  dh = dout + ln_2'(mlp'(dout))  and  dx = dh + ln_1'(attn'(dh)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmlab.numpy_transformer.activations import make_activation
from llmlab.numpy_transformer.attention import CausalSelfAttention
from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.layernorm import LayerNorm
from llmlab.numpy_transformer.linear import Linear
from llmlab.numpy_transformer.module import Module


class MLP(Module):
    def __init__(self, n_embd: int, n_inner: int, rng: np.random.Generator, dtype=np.float32,
                 activation: str = "gelu_new", std: float = 0.02, proj_std: float = 0.02):
        super().__init__()
        self.c_fc = Linear(n_embd, n_inner, rng, dtype, std)
        self.act = make_activation(activation)
        self.c_proj = Linear(n_inner, n_embd, rng, dtype, proj_std)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.c_proj.forward(self.act.forward(self.c_fc.forward(x)))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self.c_fc.backward(self.act.backward(self.c_proj.backward(dout)))


@dataclass(frozen=True)
class BlockConfig:
    """One block's shape and initialisation (`GPTConfig.block_config(i)` derives layer i's)."""
    n_embd: int
    n_head: int
    n_inner: int                        # the MLP's width, 4 * n_embd in GPT-2
    eps: float = 1e-5                   # LayerNorm's epsilon
    activation: str = "gelu_new"
    std: float = 0.02                   # init of the weight matrices, N(0, std²)
    proj_std: float = 0.02              # init of the two projections that write into the residual stream
    attn_scale: float | None = None     # scores = q·k * attn_scale; None: 1 / sqrt(head size)


class Block(Module):
    def __init__(self, cfg: BlockConfig, rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, cfg.eps, dtype)
        self.attn = CausalSelfAttention(cfg.n_embd, cfg.n_head, rng, dtype, cfg.std, cfg.proj_std,
                                        cfg.attn_scale)
        self.ln_2 = LayerNorm(cfg.n_embd, cfg.eps, dtype)
        self.mlp = MLP(cfg.n_embd, cfg.n_inner, rng, dtype, cfg.activation, cfg.std, cfg.proj_std)

    def forward(self, x: np.ndarray, bias: np.ndarray, cache: KVCache | None = None,
                layer: int = 0) -> np.ndarray:
        h = self.attn.forward(self.ln_1.forward(x), bias, cache, layer)
        h += x                                   # the branch output is ours: add the residual in place
        out = self.mlp.forward(self.ln_2.forward(h))
        out += h
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dh = self.ln_2.backward(self.mlp.backward(dout))
        dh += dout
        dx = self.ln_1.backward(self.attn.backward(dh))
        dx += dh
        return dx
