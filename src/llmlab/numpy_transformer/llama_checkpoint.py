"""Hugging Face Llama / Qwen2 / Qwen3 directories in and out, without torch: config.json + safetensors
(sharded or not, float32, float16 or bfloat16).

    model = Llama.from_pretrained("path/to/SmolLM2-135M", dtype="float32")    # or a Hub name, online
    model.save_pretrained("out")        # AutoModelForCausalLM.from_pretrained("out") loads it
transformers' nn.Linear stores W as (out, in); `Linear` keeps (in, out), so matrices are transposed on the
way in and out. q/k/v are one fused matrix here (columns [q | k | v]) and gate/up another ([gate | up]).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmlab.errors import LabError
from llmlab.numpy_transformer.checkpoint import CONFIG, WEIGHTS, _resolve_directory, read_state


def _pieces(model) -> list[tuple[str, str, int, int, bool]]:
    """(HF name, our dotted name, first column, last column, transposed) for every tensor: HF tensor =
    ours[..., first:last] (transposed for matrices) — the one table both directions read."""
    cfg = model.config
    d = cfg.head_size
    nq, nk = cfg.n_head * d, cfg.n_kv_head * d
    rows = [("model.embed_tokens.weight", "embed_tokens.weight", 0, cfg.n_embd, False),
            ("model.norm.weight", "norm.weight", 0, cfg.n_embd, False)]
    if model.lm_head is not None:
        rows.append(("lm_head.weight", "lm_head.weight", 0, cfg.n_embd, False))
    for i, layer in enumerate(model.layers):
        hf, ours = f"model.layers.{i}.", f"layers.{i}."
        attn = layer.self_attn
        rows += [(hf + "input_layernorm.weight", ours + "input_layernorm.weight", 0, cfg.n_embd, False),
                 (hf + "post_attention_layernorm.weight", ours + "post_attention_layernorm.weight", 0,
                  cfg.n_embd, False),
                 (hf + "self_attn.o_proj.weight", ours + "self_attn.o_proj.weight", 0, cfg.n_embd, True),
                 (hf + "mlp.gate_proj.weight", ours + "mlp.gate_up.weight", 0, cfg.n_inner, True),
                 (hf + "mlp.up_proj.weight", ours + "mlp.gate_up.weight", cfg.n_inner, 2 * cfg.n_inner, True),
                 (hf + "mlp.down_proj.weight", ours + "mlp.down_proj.weight", 0, cfg.n_embd, True)]
        for kind in ("weight", "bias") if "bias" in attn.qkv.params else ("weight",):
            for name, a, b in (("q_proj", 0, nq), ("k_proj", nq, nq + nk), ("v_proj", nq + nk, nq + 2 * nk)):
                rows.append((hf + f"self_attn.{name}.{kind}", ours + f"self_attn.qkv.{kind}", a, b,
                             kind == "weight"))
        if "bias" in attn.o_proj.params:
            rows.append((hf + "self_attn.o_proj.bias", ours + "self_attn.o_proj.bias", 0, cfg.n_embd, False))
        if attn.q_norm is not None:
            rows += [(hf + f"self_attn.{n}_norm.weight", ours + f"self_attn.{n}_norm.weight", 0, d, False)
                     for n in ("q", "k")]
    return rows


def to_hf_state(model, grads: bool = False) -> dict[str, np.ndarray]:
    """Parameters (or their gradients) under transformers' names, as (out, in) matrices (copies)."""
    ours = {name: (g if grads else p) for name, p, g in model.named_parameters()}
    state = {}
    for hf, name, a, b, transposed in _pieces(model):
        part = ours[name][..., a:b]
        state[hf] = np.ascontiguousarray(part.T if transposed else part)
    return state


def load_into(model, state: dict[str, np.ndarray]) -> None:
    """Copy a transformers state dict (numpy arrays) into the model, in place."""
    ours = {name: p for name, p, _ in model.named_parameters()}
    given = dict(state)
    if model.lm_head is None:
        given.pop("lm_head.weight", None)          # tied: the head is embed_tokens
    pieces = _pieces(model)
    missing = sorted({hf for hf, *_ in pieces} - set(given))
    unexpected = sorted(set(given) - {hf for hf, *_ in pieces})
    if missing or unexpected:
        raise LabError(f"weights do not match the config: missing {missing[:4]}, unexpected {unexpected[:4]}",
                       hint="check that config.json belongs to these weights")
    for hf, name, a, b, transposed in pieces:
        target = ours[name][..., a:b]
        value = np.asarray(given[hf])
        value = value.T if transposed else value
        if value.shape != target.shape:
            raise LabError(f"{hf} is {given[hf].shape} in the file but the config makes it "
                           f"{target.T.shape if transposed else target.shape}",
                           hint="check that config.json belongs to these weights")
        target[...] = value                         # in place: layers keep their references


def from_pretrained(directory, dtype="float32"):
    from llmlab.numpy_transformer.families import llama_config_from_hf
    from llmlab.numpy_transformer.llama import Llama

    path = _resolve_directory(directory)
    if not (path / CONFIG).exists():
        raise LabError(f"{path} has no {CONFIG}", hint="give a Hugging Face model directory")
    config = llama_config_from_hf(json.loads((path / CONFIG).read_text(encoding="utf-8")))
    model = Llama(config, dtype=dtype)
    load_into(model, read_state(path))
    return model


def save_pretrained(model, directory) -> Path:
    """config.json + model.safetensors, in the model's dtype."""
    from safetensors.numpy import save_file

    from llmlab.numpy_transformer.families import hf_config

    path = Path(directory)
    data = hf_config(model)                          # first: an inconsistent config writes nothing
    path.mkdir(parents=True, exist_ok=True)
    save_file(to_hf_state(model), str(path / WEIGHTS), metadata={"format": "pt"})
    (path / CONFIG).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
