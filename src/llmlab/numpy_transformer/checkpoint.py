"""Hugging Face GPT-2 directories in and out, without torch: config.json + model.safetensors.

    model = GPT.from_pretrained("path/to/gpt2", dtype="float64")   # or a Hub name such as "gpt2", online
    model.save_pretrained("out")       # GPT2LMHeadModel.from_pretrained("out") loads it
GPT-2's Conv1D stores its weight as (in, out), which is the layout `Linear` uses, so matrices load as
they are; only names change ("transformer." prefix, the causal-mask buffers of old checkpoints dropped).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmlab.errors import LabError

WEIGHTS, INDEX, CONFIG = "model.safetensors", "model.safetensors.index.json", "config.json"
_HF_KEYS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "activation_function",
            "layer_norm_epsilon", "scale_attn_weights", "scale_attn_by_inverse_layer_idx",
            "tie_word_embeddings",
            "initializer_range")


def to_hf_name(name: str) -> str:
    return name if name.startswith("lm_head.") else "transformer." + name


def _from_hf_name(name: str) -> str:
    return name.removeprefix("transformer.")


def _is_buffer(name: str) -> bool:
    """Old GPT-2 checkpoints also store each layer's causal mask ("h.0.attn.bias", "...masked_bias")."""
    return name.endswith((".attn.bias", ".attn.masked_bias"))


def config_from_hf(data: dict):
    from llmlab.numpy_transformer.model import GPTConfig

    model_type = data.get("model_type", "gpt2")
    if model_type != "gpt2":
        raise LabError(f"config.json describes a {model_type!r} model; the NumPy GPT reads GPT-2 only",
                       hint="read llama, qwen2 and qwen3 directories with Llama.from_pretrained (or "
                            "families.load_model, which picks the class)")
    if data.get("add_cross_attention"):
        raise LabError("this GPT-2 has cross-attention layers, which the NumPy Transformer lacks",
                       hint="use a decoder-only GPT2LMHeadModel")
    fields = {k: data[k] for k in _HF_KEYS if k in data}
    positional = data.get("llmlab", {}).get("positional", "learned")
    return GPTConfig(**fields, positional=positional)


def _resolve_directory(directory: str | Path) -> Path:
    from llmlab.hub import local_model_dir, offline_unless_reachable

    hint = "give a folder with config.json and model.safetensors (llmlab transformer train writes one)"
    path = local_model_dir(directory, hint)       # a missing path is "no such directory", not a Hub error
    if path is not None:
        return path
    name = str(directory)
    offline_unless_reachable(name)                # no network: fail now instead of retrying for a minute
    try:  # a Hub name such as "gpt2" or "openai-community/gpt2": needs a network (or the local HF cache)
        from huggingface_hub import snapshot_download

        shards = ["model.safetensors*", "model-*.safetensors"]       # one file, or an index and its shards
        return Path(snapshot_download(name, allow_patterns=[CONFIG, *shards]))
    except Exception as exc:  # noqa: BLE001 - any download problem is the same problem for the user
        raise LabError(f"there is no directory {name!r} here, and the Hugging Face Hub could not provide a "
                       f"model of that name ({type(exc).__name__})",
                       hint=hint + "; a Hub name needs a network the first time") from None


def load_file(path: Path) -> dict[str, np.ndarray]:
    """One safetensors file as NumPy arrays. bfloat16 (how Qwen3 and SmolLM2 ship), which NumPy has no type
    for, is widened to float32 exactly: a bfloat16 is the top 16 bits of a float32."""
    from safetensors.numpy import load_file as load_numpy

    with open(path, "rb") as f:                # the format: 8-byte header length, JSON header, raw tensors
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    if not any(isinstance(v, dict) and v.get("dtype") == "BF16" for v in header.values()):
        return load_numpy(path)
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    kinds = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "BOOL": np.bool_}
    state = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        buf = np.array(raw[start:end])
        if info["dtype"] == "BF16":
            arr = (buf.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = buf.view(kinds[info["dtype"]])
        state[name] = arr.reshape(info["shape"])
    return state


def read_state(directory: Path) -> dict[str, np.ndarray]:
    if (directory / WEIGHTS).exists():
        return load_file(directory / WEIGHTS)
    if (directory / INDEX).exists():   # sharded checkpoint: one file per shard, listed in the index
        shards = sorted(set(json.loads((directory / INDEX).read_text())["weight_map"].values()))
        state: dict[str, np.ndarray] = {}
        for shard in shards:
            state.update(load_file(directory / shard))
        return state
    raise LabError(f"{directory} has no {WEIGHTS}",
                   hint="save the model with safe_serialization (the default in transformers), or convert it")


def from_pretrained(directory: str | Path, dtype="float32"):
    from llmlab.numpy_transformer.model import GPT

    path = _resolve_directory(directory)
    if not (path / CONFIG).exists():
        raise LabError(f"{path} has no {CONFIG}", hint="give a Hugging Face model directory")
    config = config_from_hf(json.loads((path / CONFIG).read_text(encoding="utf-8")))
    model = GPT(config, dtype=dtype)
    load_into(model, read_state(path))
    return model


def load_into(model, state: dict[str, np.ndarray]) -> None:
    """Copy a GPT2LMHeadModel state dict (numpy arrays, with or without "transformer.") into the model."""
    ours = {name: p for name, p, _ in model.named_parameters()}
    given = {_from_hf_name(k): v for k, v in state.items() if not _is_buffer(k)}
    if model.lm_head is None:
        given.pop("lm_head.weight", None)        # tied: the head is wte, whether or not the file repeats it
    if model.config.positional == "sinusoidal":
        given.pop("wpe.weight", None)            # the fixed table, written out so transformers can read it
    missing, unexpected = sorted(set(ours) - set(given)), sorted(set(given) - set(ours))
    if missing or unexpected:
        raise LabError(f"weights do not match the config: missing {missing[:4]}, unexpected {unexpected[:4]}",
                       hint="check that config.json belongs to these weights")
    for name, param in ours.items():
        value = np.asarray(given[name])
        if value.shape != param.shape:
            raise LabError(f"{name} is {value.shape} in the file but {param.shape} in the config",
                           hint="check that config.json belongs to these weights")
        param[...] = value                        # in place: layers keep their references


def hf_config(model) -> dict:
    cfg = model.config
    data = {k: getattr(cfg, k) for k in _HF_KEYS}
    gpt2_vocab = cfg.vocab_size == 50257
    data.update({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
                 "bos_token_id": 50256 if gpt2_vocab else None, "eos_token_id": 50256 if gpt2_vocab else None,
                 "dtype": str(model.dtype), "llmlab": {"positional": cfg.positional}})
    return data


def save_pretrained(model, directory: str | Path) -> Path:
    """config.json + model.safetensors. Sinusoidal positions are written as the wpe table they equal."""
    from safetensors.numpy import save_file

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    state = {name: np.ascontiguousarray(p) for name, p in model.state_dict().items()}
    if model.config.positional == "sinusoidal":
        state["transformer.wpe.weight"] = np.ascontiguousarray(model.wpe.table)
    save_file(state, str(path / WEIGHTS), metadata={"format": "pt"})
    (path / CONFIG).write_text(json.dumps(hf_config(model), indent=2) + "\n", encoding="utf-8")
    return path
