"""The three analyses behind `llmlab attention lens | patch | attribute`, each writing a run folder with its
pictures and a JSON table (the tools themselves: lens.py, patching.py, attribution.py).

    lens_run(model, "The Eiffel Tower is in the city of", out)
    patch_run(model, clean, corrupted, " Mary", " John", out)
    attribute_run(model, text, " Mary", out, wrong=" John")
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmlab.attention.capture import AttentionModel, HFAttentionModel, NumpyAttentionModel
from llmlab.errors import LabError
from llmlab.plots import plot_heatmaps
from llmlab.runs import RunFolder


def hf_model(model: AttentionModel):
    """The transformers model inside; the NumPy GPT has no hooks to patch, so it is pointed at its HF twin."""
    if not isinstance(model, HFAttentionModel):
        raise LabError(
            f"{model.name}: patching and attribution run on HF models (the lens also on the NumPy GPT)",
            hint="pass the model directory itself (--model DIR): it holds the same weights",
        )
    return model.model


def single_token(model: AttentionModel, text: str) -> int:
    """The id of `text` if it is exactly one token (GPT-2: ' Mary' with its space), else a LabError."""
    tok = model.tokenizer
    if tok is None:
        raise LabError(f"{model.name} has no tokenizer", hint="save tokenizer.json next to the model")
    ids = list(tok(text, add_special_tokens=False)["input_ids"]) if callable(tok) else tok.encode(text)
    if len(ids) != 1:
        raise LabError(
            f"{text!r} is {len(ids)} tokens for this tokenizer; an answer must be exactly one",
            hint="GPT-2's words carry their leading space: ' Mary', not 'Mary'",
        )
    return int(ids[0])


def _labels(model: AttentionModel, ids) -> list[str]:
    return [f"{i}:{t}" for i, t in enumerate(model.token_strings(ids))]


def lens_run(
    model: AttentionModel, text: str, out: str | Path | None = None, name: str = "lens", top: int = 5
) -> dict:
    """Logit lens of one text: lens.png (P and rank of the actual next token, layer x position), lens.json."""
    from llmlab.attention.lens import logit_lens

    ids = np.array(model.encode(text))
    if len(ids) < 2:
        raise LabError(
            "the lens needs at least two tokens (it scores each position's next token)",
            hint="give a longer --text",
        )
    # the NumPy GPT has its own lens path; patching and attribution need transformers' hooks
    result = logit_lens(model.model if isinstance(model, NumpyAttentionModel) else hf_model(model), ids, top)
    run = RunFolder.create("attention", name=name, out=out)
    run.save_config({"model": model.name, "text": text, "top": top})
    L, T = result["next_prob"].shape
    labels = _labels(model, ids[:-1])
    plot_heatmaps(
        [
            ("P(actual next token)", result["next_prob"]),
            ("log10(1 + rank of the actual next token)", np.log10(1 + result["next_rank"])),
        ],
        run.file("lens.png"),
        ncols=1,
        title=f"logit lens of {model.name}: rows = after layer l",
        xlabels=labels,
        ylabels=[str(layer) for layer in range(L)],
        colorbar="each",
        annotate=L * T <= 200,
        xlabel="position: token (predicting the next one)",
        ylabel="layer",
        cell_inches=max(3.0, 0.35 * T),
    )
    table = [
        {
            "layer": layer,
            "position": t,
            "token": model.token_strings([ids[t]])[0],
            "next": model.token_strings([ids[t + 1]])[0],
            "next_rank": int(result["next_rank"][layer, t]),
            "next_prob": round(float(result["next_prob"][layer, t]), 5),
            "top": model.token_strings(result["top"][layer, t]),
        }
        for layer in range(L)
        for t in range(T)
    ]
    run.file("lens.json").write_text(json.dumps({"rows": table}, indent=1) + "\n", encoding="utf-8")
    error = float(np.abs(result["lens_logits"][-1] - result["model_logits"]).max())
    summary = {
        "model": model.name,
        "tokens": len(ids),
        "layers": L,
        "last_layer_equals_model_logits_to": error,
        "mean_next_prob_by_layer": [round(float(v), 4) for v in result["next_prob"].mean(1)],
        "top1_by_layer_at_last_position": [
            model.token_strings([result["top"][layer, -1, 0]])[0] for layer in range(L)
        ],
        "pictures": ["lens.png"],
        "table": "lens.json",
        "run": str(run.path),
    }
    run.save_summary(summary)
    return summary


def patch_run(
    model: AttentionModel,
    clean: str,
    corrupted: str,
    answer: str,
    wrong: str,
    out: str | Path | None = None,
    name: str = "patch",
) -> dict:
    """Activation patching from clean into corrupted: patch_positions.png (resid / attn / mlp, layer x
    position), patch_heads.png (layer x head), patching.json."""
    from llmlab.attention.patching import patch_everything, patch_sweep

    a, w = single_token(model, answer), single_token(model, wrong)
    clean_ids, corrupted_ids = np.array(model.encode(clean)), np.array(model.encode(corrupted))
    hf = hf_model(model)
    result = patch_sweep(hf, clean_ids, corrupted_ids, a, w)
    everything = patch_everything(hf, clean_ids, corrupted_ids, a, w)
    run = RunFolder.create("attention", name=name, out=out)
    run.save_config(
        {"model": model.name, "clean": clean, "corrupted": corrupted, "answer": answer, "wrong": wrong}
    )
    L, T = result["resid"].shape
    rows = [str(layer) for layer in range(L)]
    plot_heatmaps(
        [(f"{kind} patched at (layer, position)", result[kind]) for kind in ("resid", "attn", "mlp")],
        run.file("patch_positions.png"),
        ncols=1,
        diverging=True,
        title=f"fraction of logit({answer!r}) - logit({wrong!r}) restored",
        xlabels=_labels(model, clean_ids),
        ylabels=rows,
        annotate=L * T <= 200,
        xlabel="position (clean tokens)",
        ylabel="layer",
        cell_inches=max(3.0, 0.35 * T),
    )
    H = result["heads"].shape[1]
    plot_heatmaps(
        [("head output patched at every position", result["heads"])],
        run.file("patch_heads.png"),
        diverging=True,
        title="fraction restored per head",
        xlabels=[str(h) for h in range(H)],
        ylabels=rows,
        annotate=L * H <= 400,
        xlabel="head",
        ylabel="layer",
        cell_inches=max(3.0, 0.3 * H),
    )
    data = {k: (v.round(5).tolist() if isinstance(v, np.ndarray) else v) for k, v in result.items()}
    run.file("patching.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    best = np.unravel_index(int(np.argmax(result["heads"])), result["heads"].shape)
    summary = {
        "model": model.name,
        "tokens": T,
        "clean_logit_diff": result["clean"],
        "corrupted_logit_diff": result["corrupted"],
        "everything_patched_logit_diff": everything,
        "top_head": {
            "layer": int(best[0]),
            "head": int(best[1]),
            "restored": round(float(result["heads"][best]), 4),
        },
        "pictures": ["patch_positions.png", "patch_heads.png"],
        "table": "patching.json",
        "run": str(run.path),
    }
    run.save_summary(summary)
    return summary


def attribute_run(
    model: AttentionModel,
    text: str,
    answer: str,
    out: str | Path | None = None,
    name: str = "attribute",
    wrong: str | None = None,
    position: int = -1,
) -> dict:
    """Direct logit attribution of one logit (or a difference): attribution.png (layer x [heads..., mlp])."""
    from llmlab.attention.attribution import direct_logit_attribution, ranked_terms

    ids = np.array(model.encode(text))
    a = single_token(model, answer)
    w = single_token(model, wrong) if wrong is not None else None
    dla = direct_logit_attribution(hf_model(model), ids, a, w, position)
    run = RunFolder.create("attention", name=name, out=out)
    run.save_config(
        {"model": model.name, "text": text, "answer": answer, "wrong": wrong, "position": position}
    )
    grid = np.concatenate([dla["heads"], dla["mlp"][:, None]], axis=1)  # (L, H + 1)
    L, H = dla["heads"].shape
    target = f"logit({answer!r})" + (f" - logit({wrong!r})" if wrong is not None else "")
    plot_heatmaps(
        [("direct contribution", grid)],
        run.file("attribution.png"),
        diverging=True,
        title=f"{target} = {dla['logit']:.3g}; embedding {dla['embed']:.3g}",
        xlabels=[str(h) for h in range(H)] + ["mlp"],
        ylabels=[str(layer) for layer in range(L)],
        annotate=grid.size <= 400,
        xlabel="head (last column: the layer's MLP)",
        ylabel="layer",
        cell_inches=max(3.0, 0.3 * (H + 1)),
    )
    top = ranked_terms(dla)
    summary = {
        "model": model.name,
        "target": target,
        "position": position,
        "logit": dla["logit"],
        "sum_of_terms": dla["total"],
        "embed": dla["embed"],
        "norm_bias": dla["norm_bias"],
        "attn_bias_total": float(dla["attn_bias"].sum()),
        "final_norm_scale": dla["final_norm_scale"],
        "largest": top,
        "pictures": ["attribution.png"],
        "run": str(run.path),
    }
    run.file("attribution.json").write_text(
        json.dumps(
            {
                "heads": dla["heads"].round(5).tolist(),
                "mlp": dla["mlp"].round(5).tolist(),
                **{k: summary[k] for k in ("embed", "logit")},
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    run.save_summary(summary)
    return summary
