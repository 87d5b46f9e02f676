"""The engine's own inference model for the GPT-2 and Llama families, reading and writing a paged KV cache.

    model = load_model("runs/pretrain/tiny", device="cpu", dtype=torch.float32)
    hidden = model.forward(input_ids, positions, batch, kv_cache)      # (T, C) for T new tokens
    logits = model.logits(hidden[last_rows])                           # (B, V)

Weights come from any Hugging Face model directory (read once through transformers, then kept as plain
tensors); the forward pass is written here, token-flat: the T new tokens of every scheduled request are
one (T, C) matrix for the linear layers, and only attention looks at which request a token belongs to.
`tests/test_serve_engine.py` checks the logits against transformers' in every attention path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from llmlab.errors import LabError
from llmlab.model_families import GPT2_TYPES, LLAMA_TYPES
from llmlab.serve.paged_attention import AttentionBatch, PagedKVCache, paged_attention

ACTIVATIONS = {"gelu_new": lambda x: F.gelu(x, approximate="tanh"),
               "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
               "gelu": F.gelu, "relu": F.relu, "silu": F.silu, "swish": F.silu}


@dataclass(frozen=True)
class ModelSpec:
    family: str            # "gpt2" | "llama"
    vocab_size: int
    hidden: int
    n_layer: int
    n_head: int
    n_kv_head: int
    head_dim: int
    max_positions: int
    norm_eps: float
    act: str
    scale_by_layer: bool = False   # GPT-2's scale_attn_by_inverse_layer_idx

    def kv_bytes_per_token(self, dtype: torch.dtype) -> int:
        return 2 * self.n_layer * self.n_kv_head * self.head_dim * torch.empty((), dtype=dtype).element_size()


def spec_from_config(cfg) -> ModelSpec:
    kind = getattr(cfg, "model_type", "")
    if kind in GPT2_TYPES:
        if getattr(cfg, "reorder_and_upcast_attn", False):
            raise LabError("GPT-2 checkpoints with reorder_and_upcast_attn are not supported",
                           hint="save the model with reorder_and_upcast_attn=False")
        return ModelSpec("gpt2", cfg.vocab_size, cfg.n_embd, cfg.n_layer, cfg.n_head, cfg.n_head,
                         cfg.n_embd // cfg.n_head, cfg.n_positions, cfg.layer_norm_epsilon,
                         cfg.activation_function, bool(getattr(cfg, "scale_attn_by_inverse_layer_idx",
                                                               False)))
    if kind in LLAMA_TYPES:
        if getattr(cfg, "sliding_window", None) and getattr(cfg, "use_sliding_window", kind == "mistral"):
            raise LabError(f"{kind} checkpoints with a sliding attention window are not supported",
                           hint="serve a model without sliding_window, or with vLLM")
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        return ModelSpec("llama", cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers,
                         cfg.num_attention_heads,
                         getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads, head_dim,
                         cfg.max_position_embeddings, cfg.rms_norm_eps, cfg.hidden_act)
    raise LabError(f"model type {kind!r} is not served by llmlab's engine",
                   hint="the engine runs GPT-2-family (gpt2) and Llama-family (llama, mistral, qwen2) models")


def rope_tables(cfg, spec: ModelSpec, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (max_positions, head_dim) in float32, as transformers computes them (any static rope type).

    RoPE rotates each (x_i, x_{i+d/2}) pair of q and k by the angle pos * theta^(-2i/d):
    q' = q * cos + rotate_half(q) * sin, with rotate_half(x) = (-x2, x1).
    """
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    params = getattr(cfg, "rope_parameters", None) or {}
    rope_type = params.get("rope_type", "default") if isinstance(params, dict) else "default"
    if rope_type in ("dynamic", "longrope"):
        raise LabError(f"rope type {rope_type!r} changes with the sequence length and is not supported",
                       hint="serve a model with a static RoPE (default, linear, llama3, yarn)")
    if rope_type == "default":
        theta = params.get("rope_theta", getattr(cfg, "rope_theta", 10000.0))
        inv_freq = 1.0 / (theta ** (torch.arange(0, spec.head_dim, 2, dtype=torch.float) / spec.head_dim))
        scaling = 1.0
    else:
        inv_freq, scaling = ROPE_INIT_FUNCTIONS[rope_type](cfg, device="cpu")
    pos = torch.arange(spec.max_positions, dtype=torch.float)
    freqs = pos[:, None] * inv_freq.float()[None, :]                     # (P, D/2)
    emb = torch.cat((freqs, freqs), dim=-1)                              # (P, D)
    return (emb.cos() * scaling).to(device), (emb.sin() * scaling).to(device)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # as transformers' LlamaRMSNorm: normalise in float32, scale in the model's dtype
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)


class PagedCausalLM:
    """Plain tensors and a forward pass; no nn.Module, so the code shows every operation."""

    def __init__(self, spec: ModelSpec, weights: dict[str, torch.Tensor], rope: tuple | None):
        self.spec, self.w, self.rope = spec, weights, rope
        self.device = weights["embed"].device
        self.dtype = weights["embed"].dtype

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if self.spec.family == "gpt2":
            return F.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"],
                                self.spec.norm_eps)
        return _rms_norm(x, self.w[name + ".weight"], self.spec.norm_eps)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, batch: AttentionBatch,
                kv: PagedKVCache) -> torch.Tensor:
        """input_ids, positions (T,) -> hidden states after the final norm (T, C); writes K/V of all T
        tokens."""
        s, w = self.spec, self.w
        x = F.embedding(input_ids, w["embed"])                                     # (T, C)
        if s.family == "gpt2":
            x = x + F.embedding(positions, w["pos_embed"])
        else:
            cos, sin = (t[positions].to(self.dtype).unsqueeze(1) for t in self.rope)  # (T, 1, D)
        T = x.shape[0]
        masks = batch.masks()                              # built once, shared by every layer
        for i in range(s.n_layer):
            p = f"layers.{i}."
            h = self._norm(x, p + "norm1")
            qkv = F.linear(h, w[p + "qkv.weight"], w.get(p + "qkv.bias"))       # (T, (H + 2 Hkv) D)
            q, k, v = qkv.split([s.n_head * s.head_dim, s.n_kv_head * s.head_dim, s.n_kv_head * s.head_dim],
                                -1)
            q = q.view(T, s.n_head, s.head_dim)
            k = k.view(T, s.n_kv_head, s.head_dim)
            v = v.view(T, s.n_kv_head, s.head_dim)
            if s.family == "llama":
                q = q * cos + _rotate_half(q) * sin
                k = k * cos + _rotate_half(k) * sin
            scale = 1.0 / math.sqrt(s.head_dim) / ((i + 1) if s.scale_by_layer else 1)
            kv.write(i, k, v, batch.slot_mapping)
            attn = paged_attention(q, k, v, kv.layer(i), batch, masks, scale)     # (T, H, D)
            x = x + F.linear(attn.reshape(T, -1), w[p + "out.weight"], w.get(p + "out.bias"))
            h = self._norm(x, p + "norm2")
            if s.family == "gpt2":
                h = ACTIVATIONS[s.act](F.linear(h, w[p + "fc.weight"], w[p + "fc.bias"]))
            else:
                gate, up = F.linear(h, w[p + "gate_up.weight"], w.get(p + "gate_up.bias")).chunk(2, dim=-1)
                h = ACTIVATIONS[s.act](gate) * up
            x = x + F.linear(h, w[p + "proj.weight"], w.get(p + "proj.bias"))
        return self._norm(x, "final_norm")

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, C) -> (B, V) in float32."""
        return F.linear(hidden, self.w["lm_head"]).float()


def _gpt2_weights(sd: dict[str, torch.Tensor], n_layer: int) -> dict[str, torch.Tensor]:
    # GPT-2 stores its linear layers as Conv1D (in, out): transpose to F.linear's (out, in)
    w = {"embed": sd["transformer.wte.weight"], "pos_embed": sd["transformer.wpe.weight"],
         "final_norm.weight": sd["transformer.ln_f.weight"], "final_norm.bias": sd["transformer.ln_f.bias"]}
    w["lm_head"] = sd.get("lm_head.weight", w["embed"])
    for i in range(n_layer):
        src, dst = f"transformer.h.{i}.", f"layers.{i}."
        for a, b in (("ln_1", "norm1"), ("ln_2", "norm2")):
            w[dst + b + ".weight"], w[dst + b + ".bias"] = sd[src + a + ".weight"], sd[src + a + ".bias"]
        for a, b in (("attn.c_attn", "qkv"), ("attn.c_proj", "out"), ("mlp.c_fc", "fc"), ("mlp.c_proj",
                                                                                          "proj")):
            w[dst + b + ".weight"] = sd[src + a + ".weight"].t()
            w[dst + b + ".bias"] = sd[src + a + ".bias"]
    return w


def _llama_weights(sd: dict[str, torch.Tensor], n_layer: int) -> dict[str, torch.Tensor]:
    w = {"embed": sd["model.embed_tokens.weight"], "final_norm.weight": sd["model.norm.weight"]}
    w["lm_head"] = sd.get("lm_head.weight", w["embed"])
    for i in range(n_layer):
        src, dst = f"model.layers.{i}.", f"layers.{i}."
        w[dst + "norm1.weight"] = sd[src + "input_layernorm.weight"]
        w[dst + "norm2.weight"] = sd[src + "post_attention_layernorm.weight"]
        # fuse q, k, v (and gate, up) into one matmul each: fewer kernel launches per layer
        for fused, parts in (("qkv", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
                             ("gate_up", ("mlp.gate_proj", "mlp.up_proj"))):
            w[dst + fused + ".weight"] = torch.cat([sd[src + q + ".weight"] for q in parts])
            if src + parts[0] + ".bias" in sd:
                w[dst + fused + ".bias"] = torch.cat([sd[src + q + ".bias"] for q in parts])
        for a, b in (("self_attn.o_proj", "out"), ("mlp.down_proj", "proj")):
            w[dst + b + ".weight"] = sd[src + a + ".weight"]
            if src + a + ".bias" in sd:
                w[dst + b + ".bias"] = sd[src + a + ".bias"]
    return w


def load_model(model_dir: str | Path, device: str = "cpu", dtype: torch.dtype | None = None):
    """Read a Hugging Face model directory -> (PagedCausalLM, the transformers config)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(model_dir)
    if not (path / "config.json").exists():
        raise LabError(f"{model_dir} is not a Hugging Face model directory (no config.json)",
                       hint="pass a folder written by save_pretrained, e.g. a llmlab checkpoint")
    cfg = AutoConfig.from_pretrained(str(path))
    spec = spec_from_config(cfg)
    if spec.act not in ACTIVATIONS:
        raise LabError(f"activation {spec.act!r} is not supported",
                       hint="supported: " + ", ".join(ACTIVATIONS))
    from llmlab.console import quiet_libraries

    quiet_libraries()           # a bar per weight file is noise in a server log (--verbose shows it)
    hf = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype or "auto")
    sd = {k: v.detach() for k, v in hf.state_dict().items()}
    dtype = dtype or next(iter(sd.values())).dtype
    raw = _gpt2_weights(sd, spec.n_layer) if spec.family == "gpt2" else _llama_weights(sd, spec.n_layer)
    weights = {k: v.to(device=device, dtype=dtype).contiguous() for k, v in raw.items()}
    if raw["lm_head"].data_ptr() == raw["embed"].data_ptr():
        weights["lm_head"] = weights["embed"]                  # keep tied weights tied (one copy)
    del hf, sd, raw
    rope = rope_tables(cfg, spec, device) if spec.family == "llama" else None
    return PagedCausalLM(spec, weights, rope), cfg
