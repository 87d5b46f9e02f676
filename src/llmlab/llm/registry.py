"""`load_llm(spec)`: a backend string -> an `LLM`.

    load_llm("engine:runs/pretrain/tiny")          # llmlab's serving engine, in-process (GPT-2 / Llama
    families) load_llm("hf:gpt2") / load_llm("hf:DIR")       # transformers, any causal LM it loads
    load_llm("gguf:model.Q4_K_M.gguf")             # llama.cpp (llama-cpp-python)
    load_llm("openai:http://127.0.0.1:8000/v1")    # any OpenAI-compatible server, llmlab's own included
    load_llm("runs/pretrain/tiny")                 # a bare model directory: the engine when it can, else hf

Options go to the backend (`device=`, `dtype=`, `model=` for a server, ...). Backends (torch, transformers,
openai, llama.cpp) are imported only when asked for, so `import llmlab.llm` stays light.
"""

from __future__ import annotations

import json
import re
from importlib import import_module
from pathlib import Path

from llmlab.errors import LabError
from llmlab.llm.base import LLM

BACKENDS = {
    "engine": "llmlab.llm.engine_backend:EngineLLM",
    "hf": "llmlab.llm.hf_backend:HFLLM",
    "gguf": "llmlab.llm.gguf_backend:GGUFLLM",
    "openai": "llmlab.llm.openai_backend:OpenAILLM",
}
OPTION_HINTS = {
    "engine": "engine: takes EngineConfig's fields (device, dtype, max_model_len, kv_cache_gb, ...)",
    "hf": "hf: takes device, dtype, context_window and from_pretrained's arguments "
          "(revision, trust_remote_code, ...)",
    "gguf": "gguf: takes runtime, n_ctx, n_threads, n_gpu_layers, verbose and llama_cpp.Llama's arguments",
    "openai": "openai: takes model, api_key, context_window, tokenizer and timeout",
}
FORMS = "engine:<model dir>, hf:<name or dir>, gguf:<file>, openai:<base url>"
SPEC_HELP = f"which model, as an llmlab.llm backend string: {FORMS}, or a model directory"   # for --model


def _engine_can_serve(path: Path) -> bool:
    from llmlab.model_families import GPT2_TYPES, LLAMA_TYPES

    try:
        kind = json.loads((path / "config.json").read_text()).get("model_type", "")
    except (OSError, ValueError):
        return False
    return kind in GPT2_TYPES + LLAMA_TYPES


def parse_spec(spec: str) -> tuple[str, str]:
    """"kind:target" -> (kind, target); a bare directory picks the engine when it can serve it, else hf."""
    kind, sep, target = spec.partition(":")
    if sep and kind in BACKENDS:
        if not target:
            raise LabError(f"{spec!r} names no model", hint=f"write it as one of {FORMS}")
        return kind, target
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "config.json").exists():
        return ("engine" if _engine_can_serve(path) else "hf"), spec
    if path.suffix == ".gguf":
        return "gguf", spec
    raise LabError(f"cannot tell which backend should run {spec!r}",
                   hint=f"write it as one of {FORMS} (a bare path must be a model directory with "
                        f"config.json)")


def load_llm(spec: str | LLM, **options) -> LLM:
    """The LLM a backend string names (an `LLM` passes through unchanged)."""
    if isinstance(spec, LLM):
        return spec
    kind, target = parse_spec(spec)
    module, cls = BACKENDS[kind].split(":")
    try:
        backend = getattr(import_module(module), cls)
    except ModuleNotFoundError as exc:
        if not exc.name or not exc.name.startswith("llmlab"):
            raise LabError(f"the {kind}: backend needs the Python package {exc.name!r}, which is not "
                           f"installed",
                           hint=f"pip install {exc.name} (or pip install 'llmlab[all]')") from exc
        raise
    try:
        return backend(target, **options)
    except TypeError as exc:
        raise unknown_option(exc, kind, options) from None


def unknown_option(exc: TypeError, kind: str, options: dict) -> Exception:
    """A misspelt option (--opt n_ctx=... on hf:) reaches a constructor as a keyword it lacks: a LabError
    naming it; any other TypeError is returned as it is (a bug to see whole)."""
    bad = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
    if not bad or bad.group(1) not in options:
        return exc
    return LabError(f"the {kind}: backend has no option {bad.group(1)!r}",
                    hint=f"drop it or check its spelling; {OPTION_HINTS[kind]}")


def parse_options(items: list[str] | None) -> dict:
    """Backend options from the command line (`--opt key=value`, repeatable), typed by their look:
    ["n_ctx=4096", "runtime=transformers", "verbose=true"] -> {"n_ctx": 4096, ...} (ints, floats, bools)."""
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LabError(f"--opt {item!r} is not key=value", hint="e.g. --opt n_ctx=4096")
        value = value.strip()
        low = value.lower()
        if low in ("true", "false"):
            options[key.strip()] = low == "true"
            continue
        for kind in (int, float):
            try:
                options[key.strip()] = kind(value)
                break
            except ValueError:
                continue
        else:
            options[key.strip()] = value
    return options
