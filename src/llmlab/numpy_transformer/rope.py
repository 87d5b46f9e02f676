"""Rotary position embeddings (RoPE, Su et al. 2021) as Llama, Qwen and Mistral apply them, with backward.

RoPE has no parameters: it rotates each query and key vector by angles that grow with the position, so
the score q·k depends on the two positions only through their distance: (R_m q)ᵀ (R_n k) = qᵀ R_{n-m} k.
A head vector x (size d) is cut into halves [x₁, x₂] (transformers' "rotate_half" layout; Meta's original
code rotates interleaved pairs, which is the same model with the head's features permuted):

    inv_freq_i = rope_theta^(-2i/d)     i = 0 .. d/2 - 1;  rope_theta 1e4 (Llama 2), 5e5 (Llama 3), 1e6 (Qwen)
    a = pos · inv_freq,  cos = [cos a, cos a],  sin = [sin a, sin a]             (T, d)
    forward:   y = x ⊙ cos + rot(x) ⊙ sin,           rot([x₁, x₂]) = [-x₂, x₁]
    backward:  dx = dy ⊙ cos - rot(dy ⊙ sin)         (the rotation's transpose is the rotation by -a)

Llama 3.1 stretches the context with rope_type "llama3": wavelengths λ = 2π / inv_freq longer than
original_max_position_embeddings / low_freq_factor are divided by `factor` (slowed down), those shorter
than .../high_freq_factor are kept, and the band between is interpolated smoothly. Other rope types
(linear, dynamic, yarn, longrope) are not implemented: `inverse_frequencies` says so.
"""

from __future__ import annotations

import math

import numpy as np

from llmlab.errors import LabError


def inverse_frequencies(head_dim: int, theta: float = 10000.0, scaling: dict | None = None) -> np.ndarray:
    """(d/2,) float64 angular speeds; `scaling`: a config's rope_parameters / rope_scaling dict, or None."""
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if kind == "default":
        return inv_freq
    if kind != "llama3":
        raise LabError(f"rope_type {kind!r} is not implemented in the NumPy Transformer",
                       hint="default and llama3 RoPE are; use a model without that rope scaling")
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    slow = np.where(wavelen > old_context / low, inv_freq / factor, inv_freq)    # long waves: divided
    smooth = (old_context / wavelen - low) / (high - low)                         # 0: long end, 1: short end
    blended = (1 - smooth) * slow / factor + smooth * slow
    medium = (wavelen >= old_context / high) & (wavelen <= old_context / low)
    return np.where(medium, blended, slow)


def rope_tables(positions: np.ndarray, inv_freq: np.ndarray,
                dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin (..., T, d) for integer positions (..., T), computed in float64 and then cast."""
    angles = np.asarray(positions, dtype=np.float64)[..., None] * inv_freq      # (..., T, d/2)
    angles = np.concatenate([angles, angles], axis=-1)                          # (..., T, d): both halves
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """y = x ⊙ cos + rot(x) ⊙ sin; x (..., T, d), cos/sin broadcastable to it. Returns a new array.
    Written half by half, y₁ = x₁ cos₁ - x₂ sin₁ and y₂ = x₂ cos₂ + x₁ sin₂, so rot(x) is never built."""
    h = x.shape[-1] // 2
    y = np.empty(np.broadcast_shapes(x.shape, cos.shape), dtype=x.dtype)   # C order, whatever x's layout
    np.multiply(x, cos, out=y)
    y[..., :h] -= x[..., h:] * sin[..., :h]
    y[..., h:] += x[..., :h] * sin[..., h:]
    return y


def rope_backward(dy: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """dx = dy ⊙ cos - rot(dy ⊙ sin): the same rotation with the angle negated,
    dx₁ = dy₁ cos₁ + dy₂ sin₂,  dx₂ = dy₂ cos₂ - dy₁ sin₁."""
    h = dy.shape[-1] // 2
    dx = dy * cos
    dx[..., :h] += dy[..., h:] * sin[..., h:]
    dx[..., h:] -= dy[..., :h] * sin[..., :h]
    return dx
