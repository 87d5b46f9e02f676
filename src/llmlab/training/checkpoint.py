"""Checkpoint folders: the model as an interchange directory, the trainer's state beside it, written
atomically.

    <run>/checkpoint/            latest, for resuming     <run>/best/    model only, lowest val loss
        config.json, model.safetensors, tokenizer.json    (a Hugging Face model: AutoModelForCausalLM loads
        it) or model.safetensors + llmlab_model.json          (an RNN: llmlab.charlm loads it)
        trainer/                 accelerate's save_state: optimizer, every process's RNG
        trainer_state.json       step, tokens, elapsed seconds, best val loss, data position, the config

A checkpoint is built in `<name>.tmp/` and swapped in by renames, so a crash (even SIGKILL) at any
moment leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from llmlab.errors import LabError

CHECKPOINT, BEST = "checkpoint", "best"
STATE_DIR, STATE_FILE, MODEL_CONFIG = "trainer", "trainer_state.json", "llmlab_model.json"


def is_hf_model(model: torch.nn.Module) -> bool:
    return hasattr(model, "save_pretrained") and hasattr(model, "config")


def save_model_dir(model: torch.nn.Module, directory: Path, state_dict: dict[str, torch.Tensor] | None = None,
                   tokenizer: Any = None) -> Path:
    """Write weights (+ config, + tokenizer) so the directory loads on its own."""
    directory.mkdir(parents=True, exist_ok=True)
    if is_hf_model(model):
        from transformers.utils import logging as hf_logging

        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()     # our own bar is on screen; no second one per shard
        try:
            model.save_pretrained(str(directory), state_dict=state_dict)
        finally:
            if shown:
                hf_logging.enable_progress_bar()
    else:
        from safetensors.torch import save_file

        weights = state_dict if state_dict is not None else model.state_dict()
        save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()},
                  str(directory / "model.safetensors"))
        config = model.config_dict() if hasattr(model, "config_dict") else {"class": type(model).__name__}
        (directory / MODEL_CONFIG).write_text(json.dumps(config, indent=1), encoding="utf-8")
    if tokenizer is not None:
        if hasattr(tokenizer, "to_hf"):      # an llmlab tokenizer: its own files + the HF tokenizer files
            tokenizer.save(directory)
        else:
            tokenizer.save_pretrained(str(directory))
    return directory


def load_model_weights(model: torch.nn.Module, directory: Path) -> None:
    """Load model*.safetensors from `directory` into `model` in place (tied weights may be absent)."""
    from safetensors.torch import load_file

    files = sorted(directory.glob("model*.safetensors"))
    if not files:
        raise LabError(f"{directory} holds no model*.safetensors",
                       hint="point at a checkpoint folder the trainer wrote")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    loaded = {p.data_ptr() for name, p in model.state_dict().items() if name in state}
    truly_missing = [k for k in missing if model.state_dict()[k].data_ptr() not in loaded]
    if truly_missing or unexpected:
        raise LabError(f"the weights in {directory} do not fit this model (missing: {truly_missing[:5]}, "
                       f"unexpected: {unexpected[:5]})",
                       hint="resume with the same model settings the run used")


def begin_atomic(target: Path) -> Path:
    """A fresh temporary folder beside `target`; finish with `commit_atomic`."""
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def commit_atomic(target: Path) -> None:
    tmp, old = target.with_name(target.name + ".tmp"), target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)        # between these two renames only .old exists: find_checkpoint uses it
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old)


def find_checkpoint(run_path: Path, name: str = CHECKPOINT) -> Path | None:
    """The complete checkpoint in a run folder, also when a crash hit between the two renames."""
    for candidate in (run_path / name, run_path / (name + ".old")):
        if (candidate / STATE_FILE).exists() or (name == BEST and candidate.exists()):
            return candidate
    return None


def require_checkpoint(run_path: Path) -> Path:
    """The checkpoint to --resume from, or the error that says there is none (never a silent fresh start)."""
    found = find_checkpoint(run_path)
    if found is None:
        raise LabError(f"nothing to resume: {run_path} holds no checkpoint",
                       hint="drop --resume to start again (with --overwrite to replace what is there), "
                            "or point --out at the run to continue")
    return found


def read_state(directory: Path) -> dict[str, Any]:
    return json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))


def read_data_position(directory: Path, state: dict[str, Any]) -> dict[str, Any]:
    """The batch source's position: JSON in trainer_state.json. Checkpoints written before it moved there keep
    it in trainer/custom_checkpoint_0.pkl, read with weights_only=True (plain numbers load, code in a pickle
    does not)."""
    if state.get("data") is not None:
        return state["data"]
    legacy = directory / STATE_DIR / "custom_checkpoint_0.pkl"
    try:
        return dict(torch.load(legacy, map_location="cpu", weights_only=True))
    except Exception:
        raise LabError(f"{directory} does not say where in the data the run stopped",
                       hint="resume from a checkpoint this llmlab wrote, or start again with "
                            "--overwrite") from None


def remove_pickled_position(directory: Path) -> None:
    """Delete trainer/custom_checkpoint_*.pkl unread (its content came from read_data_position, or from the
    JSON): accelerate refuses to load a folder holding custom pickles that nothing registered, and nothing
    here ever will."""
    for stale in (directory / STATE_DIR).glob("custom_checkpoint_*.pkl"):
        stale.unlink()


def write_state(directory: Path, state: dict[str, Any]) -> None:
    # written last: its presence marks the checkpoint complete
    (directory / STATE_FILE).write_text(json.dumps(state, indent=1, default=str), encoding="utf-8")
