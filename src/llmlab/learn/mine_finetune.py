"""`llmlab learn run finetune --mine`: a short LoRA fine-tune of a small GPT-2 with the learner's LoRALinear
(built, found and merged by llmlab's own add_lora / merge_lora) and their parameter count, beside PEFT's LoRA.

The base is the project's `tiny` model (a GPT-2 pretrained here on python-stdlib for ~20 s, built once into
the workspace's finetune/base and reused), fine-tuned on python-docs blocks with the `tiny` preset's LoRA
(r 8, alpha 16 on c_attn, c_proj, c_fc). Both adapters start from PEFT's A (Kaiming) and B (zero), copied,
see the same batches and take the same AdamW steps, as llmlab.finetune.parity does; with llmlab's code the
two loss columns agree to float32 rounding. Then each is merged into its weights and compared.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from pathlib import Path
from unittest import mock

import numpy as np

PATCHES = {   # exercise -> [(module patched, its name, name in the learner's file)]
    "lora": [("llmlab.finetune.lora", "LoRALinear", "LoRALinear")],
    "trainable": [("llmlab.finetune.lora", "trainable_parameters", "trainable_parameters")],
}
BASE_MODEL = "tiny"             # the project's own small GPT-2, or any HF model directory
CORPUS, DOCUMENTS = "python-docs", 60


@contextlib.contextmanager
def learner_pieces(modules: dict):
    import importlib

    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            for target, name, theirs in PATCHES.get(exercise, []):
                stack.enter_context(mock.patch.object(importlib.import_module(target), name, getattr(module,
                                                                                                     theirs)))
        yield


def run_finetune(folder: Path, modules: dict, steps: int = 60, seed: int = 0, log=print,
                 model: str = BASE_MODEL) -> dict:
    """PEFT's LoRA, then the learner's, on copies of one base: losses, validation loss, counts, merged
    weights."""
    import torch
    from peft import get_peft_model

    import llmlab.finetune.lora as lora
    from llmlab.finetune.base import load_base
    from llmlab.finetune.data import domain_data
    from llmlab.finetune.evaluate import block_loss
    from llmlab.finetune.parity import _train, copy_peft_into_scratch, peft_layers, peft_lora_config
    from llmlab.finetune.presets import resolve
    from llmlab.finetune.run import cpu_threads

    cfg = resolve("tiny")
    with cpu_threads(1), warnings.catch_warnings():
        # transformers' deprecation notes, raised inside PEFT
        warnings.simplefilter("ignore", FutureWarning)
        base, tok, source = load_base(model, Path(folder) / "base")
        base = base.float().eval()
        data = domain_data(CORPUS, tok, cfg.block_size, cfg.val_blocks, DOCUMENTS, base.config.n_positions)
        train, val = data.blocks("train"), data.blocks("val")
        rng = np.random.default_rng(seed)
        batches = [torch.as_tensor(train[rng.choice(len(train), cfg.batch_size,
                                                    replace=False)]) for _ in range(steps)]
        log(f"base: {source}; LoRA r={cfg.r} alpha={cfg.alpha:g} on {', '.join(cfg.target_modules)}; {steps} "
            f"AdamW "
            f"steps of {cfg.batch_size} x {data.block_size} tokens of {CORPUS}, lr {cfg.lr:g}, seed {seed}")
        torch.manual_seed(seed)
        peft_model = get_peft_model(copy.deepcopy(base), peft_lora_config(base, cfg.target_modules, cfg.r,
                                                                          cfg.alpha,
                                                                          cfg.lora_dropout))
        peft_count = peft_model.get_nb_trainable_parameters()
        with learner_pieces(modules):
            mine = copy.deepcopy(base)
            # your class, if it passes
            lora.add_lora(mine, cfg.target_modules, cfg.r, cfg.alpha, cfg.lora_dropout)
            copy_peft_into_scratch(peft_model, mine)
            count = lora.trainable_parameters(mine)
            val_before = block_loss(base, val, cfg.batch_size)
            losses_peft = _train(peft_model, batches, steps, cfg.lr, seed)
            losses_mine = _train(mine, batches, steps, cfg.lr, seed)
            val_peft, val_mine = block_loss(peft_model, val, cfg.batch_size), block_loss(mine, val,
                                                                                         cfg.batch_size)
            names = list(peft_layers(peft_model))
            lora.merge_lora(mine)                                   # your merge, through llmlab's merge_lora
            merged_peft = dict(peft_model.merge_and_unload().named_parameters())
            layers = lora.lora_layers(mine)
            merged_diff = max(
                float((layers[n].base.weight - merged_peft[n + ".weight"]).abs().max()) for n in names
            )
            val_merged = block_loss(mine, val, cfg.batch_size)
    return {"losses_peft": losses_peft, "losses_mine": losses_mine, "val_before": val_before,
            "val_peft": val_peft,
            "val_mine": val_mine, "val_mine_merged": val_merged, "merged_max_diff": merged_diff,
            "count_mine": count, "count_peft": {"trainable_params": peft_count[0],
                                                "total_params": peft_count[1]},
            "max_loss_diff": max(abs(a - b) for a, b in zip(losses_peft, losses_mine, strict=True)),
            "layers": len(names), "model": source}


def run_mine(folder: Path, modules: dict, steps: int = 60, seed: int = 0, log=print) -> str:
    """Print the two fine-tunes side by side; return the tracker's one-line note."""
    pieces = ", ".join(sorted(set(modules) & set(PATCHES))) or "none"
    log(f"your pieces: {pieces} (the rest are llmlab's)")
    r = run_finetune(folder, modules, steps=steps, seed=seed, log=log, model=BASE_MODEL)
    peft, mine = r["losses_peft"], r["losses_mine"]
    every = max(1, len(peft) // 6)
    log(f"{'step':>6} {'PEFT':>10} {'yours':>10}")
    for step in sorted({*range(0, len(peft), every), len(peft) - 1}):
        log(f"{step:>6} {peft[step]:>10.4f} {mine[step]:>10.4f}")
    log(f"validation loss: base {r['val_before']:.4f} -> PEFT {r['val_peft']:.4f}, yours {r['val_mine']:.4f} "
        f"(merged: {r['val_mine_merged']:.4f})")
    c, p = r["count_mine"], r["count_peft"]
    log(f"trainable parameters: yours {c['trainable_params']:,} of {c['total_params']:,} "
        f"({100 * c['trainable_share']:.2f}%), PEFT {p['trainable_params']:,} of {p['total_params']:,}")
    log(f"merged weights ({r['layers']} layers): max |yours - PEFT's merge_and_unload| "
        f"{r['merged_max_diff']:.3g}")
    same = f"max loss difference {r['max_loss_diff']:.2g}"
    log(f"final loss: PEFT {peft[-1]:.4f}, yours {mine[-1]:.4f} ({same})")
    return (f"run --mine ({steps} steps; mine: {pieces}): LoRA val loss {r['val_before']:.3f} -> "
            f"{r['val_mine']:.3f} "
            f"vs PEFT {r['val_peft']:.3f} ({same})")
