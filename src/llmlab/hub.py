"""Reaching the Hugging Face Hub: fail at once when it is unreachable, instead of retrying for a minute.

`offline_unless_reachable(name)` is called before any `from_pretrained(name)` / `load_dataset(name)` whose
name is not a local folder. With no route to huggingface.co it switches the process to the libraries'
offline mode, so cached copies still load and anything else fails immediately with its own clear error.
`local_model_dir(spec)` is the one rule that tells a model directory from a Hub name; `load_hf_tokenizer`
the one way to a model's Hugging Face tokenizer (an llmlab tokenizer folder: llmlab.tokenizer.load_tokenizer).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

HUB_HOST = "huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def local_model_dir(spec: str | Path, hint: str | None = None) -> Path | None:
    """The folder a model spec names, or None for a Hub name ("gpt2", "org/name"). A spec that looks like a
    path must exist, and a missing one is a "no such directory" error, never a trip to the Hub: it starts with
    '.', '/' or '~', has two '/' or more, or its first part is a folder here (runs/nope, with runs/ in this
    folder)."""
    from llmlab.errors import LabError

    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    hint = hint or "give a folder with config.json and the weights, or a Hub name such as gpt2"
    if path.exists():
        raise LabError(f"{text} is a file, not a model directory", hint=hint)
    head = text.split("/", 1)[0]
    if (
        text.startswith((".", "/", "~"))
        or text.count("/") > 1
        or ("/" in text and Path(head).expanduser().is_dir())
    ):
        raise LabError(f"no model directory {text!r}: no such directory", hint=hint)
    return None


def offline_unless_reachable(name: str | Path | None = None) -> bool:
    """True when the process is (now) in offline mode. A local folder never needs the Hub."""
    if name is not None and Path(str(name)).expanduser().exists():
        return bool(os.environ.get("HF_HUB_OFFLINE"))
    if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("HF_DATASETS_OFFLINE") or os.environ.get(
            "TRANSFORMERS_OFFLINE"):
        return True
    if hub_reachable():
        return False
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    # modules imported already read their flags at import time: flip those too
    import sys

    if "huggingface_hub.constants" in sys.modules:
        sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = True
    if "datasets.config" in sys.modules:
        cfg = sys.modules["datasets.config"]
        cfg.HF_HUB_OFFLINE = cfg.HF_DATASETS_OFFLINE = True
    return True


def load_causal_lm(spec: str | Path, device: str = "cpu", dtype: str = "auto", require_tokenizer: bool = True,
                   hint: str | None = None, **kwargs):
    """(model, tokenizer) from a Hub name or a model directory, through transformers, with a clear error for a
    missing folder or an unreachable Hub. `dtype` is a torch dtype name or "auto" (the checkpoint's); without
    `require_tokenizer` a weights-only folder gives tokenizer None."""
    from llmlab.errors import LabError

    source = str(spec)
    local = local_model_dir(source, hint)
    offline_unless_reachable(source)
    import torch
    from transformers import AutoModelForCausalLM

    from llmlab.console import quiet_libraries
    from llmlab.device import resolve_device

    quiet_libraries()        # llmlab's own bars are the ones on screen (--verbose shows transformers')
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, str(dtype), None)
    if not isinstance(torch_dtype, torch.dtype) and torch_dtype != "auto":
        raise LabError(f"unknown dtype {dtype!r}", hint="use auto, float32, bfloat16 or float16")
    device = resolve_device(str(device))     # "auto", or a LabError for cuda without a GPU
    try:
        torch.device(device)
    except RuntimeError:
        raise LabError(f"unknown device {device!r}", hint="use cpu, cuda, cuda:N, mps or auto") from None
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **kwargs)
    except OSError as exc:
        where = "" if local else f"there is no directory {source!r} here, and "
        raise LabError(f"cannot load the model {source!r}: {where}{str(exc).splitlines()[0]}",
                       hint=hint or "a Hub name needs a network the first time; offline, give a model "
                                    "directory "
                                    "(llmlab pretrain / finetune write them)") from None
    return model.to(device).eval(), load_hf_tokenizer(source, required=require_tokenizer)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def load_hf_tokenizer(source: str | Path, required: bool = True):
    """The Hugging Face tokenizer of a model directory or a Hub name. A weights-only folder (none of
    TOKENIZER_FILES, or files transformers cannot read) gives None when not `required` (token ids still
    work, text does not), else a LabError naming the fix."""
    from llmlab.errors import LabError

    source = str(source)
    hint = "save one next to the weights (tokenizer.save_pretrained(dir))"
    path = Path(source).expanduser()
    if path.is_dir() and not any((path / name).exists() for name in TOKENIZER_FILES):
        if required:
            raise LabError(f"{source!r} has no tokenizer (none of {', '.join(TOKENIZER_FILES)})", hint=hint)
        return None
    offline_unless_reachable(source)
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        if required:
            raise LabError(f"{source!r} has no tokenizer: {str(exc).splitlines()[0]}", hint=hint) from None
        return None
