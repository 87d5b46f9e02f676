"""Which transformers model families the NumPy Transformer runs, and how their config.json maps onto ours.

    family  class             norm       positions   MLP      attention        extras
    gpt2    GPT2LMHeadModel   LayerNorm  learned     GELU 4C  multi-head       biases everywhere, tied head
    llama   LlamaForCausalLM  RMSNorm    RoPE        SwiGLU   grouped-query    llama3 RoPE scaling (3.1+)
    qwen2   Qwen2ForCausalLM  RMSNorm    RoPE θ=1e6  SwiGLU   grouped-query    q/k/v biases
    qwen3   Qwen3ForCausalLM  RMSNorm    RoPE θ=1e6  SwiGLU   grouped-query    QK-norm, no biases
SmolLM/SmolLM2, TinyLlama and Mistral-style models without sliding windows are `llama` directories.

    model = load_model("some-hf-dir")          # GPT for gpt2, Llama for the three others
"""

from __future__ import annotations

import json
from pathlib import Path

from llmlab.errors import LabError

FAMILIES = {  # model_type -> the transformers class that save_pretrained names in config.json
    "llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}


def model_type(data: dict) -> str:
    return data.get("model_type", "gpt2")


def _rope(data: dict) -> tuple[float, dict | None]:
    """rope_theta and the scaling dict, from transformers 5's rope_parameters or 4's rope_theta and
    rope_scaling."""
    params = dict(data.get("rope_parameters") or {})
    scaling = data.get("rope_scaling") or None
    theta = params.pop("rope_theta", data.get("rope_theta", 10000.0))
    if params.get("rope_type", "default") != "default":
        scaling = params
    if scaling and scaling.get("rope_type", scaling.get("type")) == "default":
        scaling = None
    return float(theta), scaling


def llama_config_from_hf(data: dict):
    """A `LlamaConfig` from a LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM config.json (a dict)."""
    from llmlab.numpy_transformer.llama import LlamaConfig

    family = model_type(data)
    if family not in FAMILIES:
        raise LabError(f"config.json describes a {family!r} model; the NumPy Transformer runs gpt2, "
                       + ", ".join(FAMILIES), hint="give a directory of one of those model types")
    if data.get("hidden_act", "silu") != "silu":
        raise LabError(f"hidden_act {data['hidden_act']!r}: the NumPy SwiGLU uses silu",
                       hint="give a model whose MLP activation is silu")
    if data.get("mlp_bias"):
        raise LabError("this model has biases in its MLP (mlp_bias), which the NumPy SwiGLU lacks",
                       hint="give a model with mlp_bias false (every released Llama, Qwen2 and Qwen3)")
    if data.get("use_sliding_window") or "sliding_attention" in (data.get("layer_types") or []):
        raise LabError("this model uses sliding-window attention, which the NumPy Transformer lacks",
                       hint="give a model with use_sliding_window false")
    theta, scaling = _rope(data)
    heads = data["num_attention_heads"]
    bias = bool(data.get("attention_bias", False))
    keep = {k: data[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if data.get(k) is not None}
    return LlamaConfig(
        vocab_size=data["vocab_size"], n_positions=data.get("max_position_embeddings", 2048),
        n_embd=data["hidden_size"], n_layer=data["num_hidden_layers"], n_head=heads,
        n_kv_head=data.get("num_key_value_heads") or heads, head_dim=data.get("head_dim"),
        n_inner=data["intermediate_size"], rms_norm_eps=data.get("rms_norm_eps", 1e-6), rope_theta=theta,
        rope_scaling=scaling, qkv_bias=True if family == "qwen2" else bias, o_bias=bias and family != "qwen2",
        qk_norm=family == "qwen3", tie_word_embeddings=bool(data.get("tie_word_embeddings", False)),
        initializer_range=data.get("initializer_range", 0.02), family=family, extra=keep)


def hf_config(model) -> dict:
    """The config.json of a `Llama` model: transformers 5 reads rope_parameters, 4 reads rope_theta."""
    cfg = model.config
    if cfg.family not in FAMILIES:
        raise LabError(f"unknown family {cfg.family!r}", hint="use one of " + ", ".join(FAMILIES))
    if cfg.family == "qwen2" and (not cfg.qkv_bias or cfg.o_bias):
        raise LabError("a qwen2 model has q/k/v biases and no o_proj bias", hint="save it as family llama")
    if cfg.family != "qwen2" and cfg.qkv_bias != cfg.o_bias:
        raise LabError(f"{cfg.family} puts attention biases on all four projections or on none",
                       hint="use family qwen2 for q/k/v biases alone")
    if cfg.qk_norm != (cfg.family == "qwen3"):
        raise LabError("QK-norm is Qwen3's", hint="use family qwen3 exactly when qk_norm is on")
    rope = {"rope_type": "default", **(cfg.rope_scaling or {}), "rope_theta": cfg.rope_theta}
    data = {
        "architectures": [FAMILIES[cfg.family]], "model_type": cfg.family, "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.n_embd, "intermediate_size": cfg.n_inner, "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head, "num_key_value_heads": cfg.n_kv_head, "head_dim": cfg.head_size,
        "hidden_act": "silu", "max_position_embeddings": cfg.n_positions, "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta, "rope_parameters": rope, "attention_bias": cfg.o_bias,
        "tie_word_embeddings": cfg.tie_word_embeddings, "initializer_range": cfg.initializer_range,
        "dtype": str(model.dtype), "bos_token_id": None, "eos_token_id": None, **cfg.extra}
    if cfg.rope_scaling:
        data["rope_scaling"] = rope
    if cfg.family != "llama":
        data["use_sliding_window"] = False
    return data


def load_model(directory, dtype="float32"):
    """`GPT` or `Llama`, whichever the directory's config.json describes (a local folder or a Hub name)."""
    from llmlab.numpy_transformer.checkpoint import CONFIG, _resolve_directory
    from llmlab.numpy_transformer.llama import Llama
    from llmlab.numpy_transformer.model import GPT

    path = _resolve_directory(directory)
    if not (path / CONFIG).exists():
        raise LabError(f"{path} has no {CONFIG}", hint="give a Hugging Face model directory")
    data = json.loads((Path(path) / CONFIG).read_text(encoding="utf-8"))
    return (GPT if model_type(data) == "gpt2" else Llama).from_pretrained(path, dtype=dtype)
