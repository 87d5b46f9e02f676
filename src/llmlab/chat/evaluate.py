"""How far int8 moves a model: logits and greedy tokens against the float model, bytes, and a per-layer
picture.

    summary = compare_int8(model_dir_or_name, text, out=run_folder)     # quantises a copy; the float model
    stays

Measured on one text: the relative logit error ||z_int8 - z_fp32|| / ||z_fp32||, the largest logit change, how
often the next-token argmax agrees (teacher-forced, every position), and greedy continuations side by side.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from llmlab.chat.quantize import QuantReport, quantize_model
from llmlab.generation.context_limit import context_length

SAMPLE = ("The Python interpreter reads a program, compiles it to bytecode and runs it. A function is "
          "defined "
          "with def, and a class with class; modules are imported with import.")


@torch.no_grad()
def logit_agreement(float_model, int8_model, ids: torch.Tensor) -> dict[str, float]:
    ref, got = float_model(ids).logits.float(), int8_model(ids).logits.float()       # (1, T, V)
    return {"relative_logit_error": float((got - ref).norm() / ref.norm()),
            "max_logit_change": float((got - ref).abs().max()),
            "argmax_agreement": float((got.argmax(-1) == ref.argmax(-1)).float().mean())}


@torch.no_grad()
def greedy_agreement(float_model, int8_model, ids: torch.Tensor, new_tokens: int = 24) -> dict[str, Any]:
    """Greedy continuations of both models: the common prefix length, and the tokens of each."""
    kwargs = dict(max_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    a = float_model.generate(ids, **kwargs)[0, ids.shape[1]:].tolist()
    b = int8_model.generate(ids, **kwargs)[0, ids.shape[1]:].tolist()
    same = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return {"greedy_common_prefix": same, "greedy_tokens": len(a), "float_tokens": a, "int8_tokens": b}


def plot_layer_errors(report: QuantReport, path: str | Path,
                      title: str = "int8 weight error per layer") -> Path:
    """Relative weight error ||W - Ŵ||/||W|| of each quantised layer, in model order."""
    from llmlab.plots import plot_curves

    xs = list(range(len(report.layers)))
    ys = [r.relative_error * 100 for r in report.layers]
    return plot_curves(
        {"relative weight error": (xs, ys)},
        path,
        title=title,
        xlabel="layer (model order: "
        + ", ".join(r.name.rsplit(".", 1)[-1] for r in report.layers[:4])
        + ", ...)",
        ylabel="||W - Ŵ|| / ||W||  (%)",
    )


def compare_int8(model, tokenizer, text: str = SAMPLE, out: str | Path | None = None,
                 kernel: str = "int8pack",
                 new_tokens: int = 24, lm_head: bool = False, embeddings: bool = False) -> dict[str, Any]:
    """Quantise a copy of `model` and measure it against the float model; a picture when `out` is given."""
    quant = copy.deepcopy(model)
    report = quantize_model(quant, kernel=kernel, lm_head=lm_head, embeddings=embeddings)
    ids = torch.tensor([tokenizer.encode(text)], dtype=torch.long)
    limit = context_length(model.config)
    if limit:                                 # leave room for the greedy continuation
        ids = ids[:, : max(2, limit - new_tokens)]
    summary: dict[str, Any] = {**report.as_dict(), **logit_agreement(model, quant, ids)}
    greedy = greedy_agreement(model, quant, ids[:, : min(16, ids.shape[1])], new_tokens)
    summary.update(greedy_common_prefix=greedy["greedy_common_prefix"], greedy_tokens=greedy["greedy_tokens"],
                   float_text=tokenizer.decode(greedy["float_tokens"]),
                   int8_text=tokenizer.decode(greedy["int8_tokens"]))
    if out is not None:
        plot_layer_errors(report, Path(out) / "layer_errors.png")
        summary["pictures"] = ["layer_errors.png"]
    return summary
