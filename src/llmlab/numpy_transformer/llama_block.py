"""The pre-norm residual block of Llama, Qwen2 and Qwen3: RMSNorm, grouped-query attention with RoPE,
RMSNorm, SwiGLU.

    h = x + attn(rms_1(x));   out = h + mlp(rms_2(h))
backward, as in GPT-2's block (block.py): dh = dout + rms_2'(mlp'(dout)),  dx = dh + rms_1'(attn'(dh)).
transformers names the two norms input_layernorm and post_attention_layernorm; so do we.
"""

from __future__ import annotations

import math

import numpy as np

from llmlab.numpy_transformer.gqa_attention import GroupedQueryAttention
from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.module import Module
from llmlab.numpy_transformer.rmsnorm import RMSNorm
from llmlab.numpy_transformer.swiglu import SwiGLU


class LlamaBlock(Module):
    def __init__(self, cfg, rng: np.random.Generator, dtype=np.float32):
        """cfg: a `LlamaConfig`. Residual projections start at std / √(2 n_layer), as GPT-2's do."""
        super().__init__()
        std = cfg.initializer_range
        proj_std = std / math.sqrt(2 * cfg.n_layer)
        self.input_layernorm = RMSNorm(cfg.n_embd, cfg.rms_norm_eps, dtype)
        self.self_attn = GroupedQueryAttention(cfg.n_embd, cfg.n_head, cfg.n_kv_head, cfg.head_size, rng,
                                               dtype, cfg.qkv_bias, cfg.o_bias, cfg.qk_norm, cfg.rms_norm_eps,
                                               std, proj_std)
        self.post_attention_layernorm = RMSNorm(cfg.n_embd, cfg.rms_norm_eps, dtype)
        self.mlp = SwiGLU(cfg.n_embd, cfg.n_inner, rng, dtype, std, proj_std)

    def forward(self, x: np.ndarray, bias: np.ndarray, cos: np.ndarray, sin: np.ndarray,
                cache: KVCache | None = None, layer: int = 0) -> np.ndarray:
        h = self.self_attn.forward(self.input_layernorm.forward(x), bias, cos, sin, cache, layer)
        h += x                                   # the branch output is ours: add the residual in place
        out = self.mlp.forward(self.post_attention_layernorm.forward(h))
        out += h
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dh = self.post_attention_layernorm.backward(self.mlp.backward(dout))
        dh += dout
        dx = self.input_layernorm.backward(self.self_attn.backward(dh))
        dx += dh
        return dx
