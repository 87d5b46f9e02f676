"""The three analyses behind `llmlab attention show | heads | compare`, each writing a run folder.

    show(model, "The cat sat", out)          pictures + interactive HTML + per-head metrics of one text
    head_report(model, text)                 metrics, induction test, a label per head
    compare(model, ["text A", "text B"], out)   how each head's metrics move between inputs, layer by layer
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmlab.attention.capture import AttentionModel
from llmlab.attention.html_view import write_html
from llmlab.attention.metrics import (
    classify_heads,
    head_metrics,
    layer_profile,
    metric_deltas,
    metrics_table,
    repeated_random_ids,
    repetition_scores,
    top_changes,
)
from llmlab.attention.views import delta_heatmaps, head_view, layer_profile_plot, metric_heatmaps, model_view
from llmlab.errors import LabError
from llmlab.runs import RunFolder


def induction_test(model: AttentionModel, period: int = 20, batch: int = 4, seed: int = 0) -> dict[str,
                                                                                                   np.ndarray]:
    """Induction and duplicate-token scores (L, H) on [BOS] + r + r, r random tokens (no special ones).

    Measured at two periods, `period` and about 2/3 of it, keeping the lower score: a head that always looks
    a fixed distance back matches one period by chance, an induction head matches both.
    """
    tok = model.tokenizer
    bos = getattr(tok, "bos_token_id", None) if tok is not None else None
    prefix = [bos] if bos is not None else []
    if model.max_positions:
        period = min(period, (model.max_positions - len(prefix)) // 2)
    special = set(getattr(tok, "all_special_ids", []) or []) if tok is not None else set()
    scores = []
    for k, p in enumerate(sorted({period, max(2, (2 * period) // 3)})):
        ids = repeated_random_ids(model.vocab_size, p, batch, seed + k, prefix, special)
        scores.append(repetition_scores(model.capture_ids(ids).probs, p, len(prefix)))
    return {key: np.minimum.reduce([s[key] for s in scores]) for key in scores[0]}


def head_report(model: AttentionModel, text: str, period: int = 20, seed: int = 0) -> dict:
    """Metrics on `text`, induction scores on repeated random tokens, and a label for every head."""
    cap = model.capture_text(text)
    if cap.seq_len < 2:
        raise LabError("the text is a single token; the metrics need at least two",
                       hint="give a longer --text")
    metrics = {**head_metrics(cap.probs), **induction_test(model, period, seed=seed)}
    return {"capture": cap, "metrics": metrics, "labels": classify_heads(metrics)}


def _kinds(labels: np.ndarray) -> dict[str, int]:
    kinds, counts = np.unique(labels.astype(str), return_counts=True)
    return {str(k): int(c) for k, c in zip(kinds, counts, strict=True)}


def _best(metrics: dict[str, np.ndarray], key: str) -> dict:
    values = metrics[key]
    l_, h = np.unravel_index(int(np.argmax(values)), values.shape)
    return {"layer": int(l_), "head": int(h), "score": round(float(values[l_, h]), 4)}


def show(model: AttentionModel, text: str, out: str | Path | None = None, name: str | None = None,
         token: int = -1, period: int = 20) -> dict:
    """Every picture of one text: head view, model view of `token`, metric heatmaps, layer profile, HTML."""
    run = RunFolder.create("attention", name=name or "show", out=out)
    report = head_report(model, text, period)
    cap, metrics, labels = report["capture"], report["metrics"], report["labels"]
    run.save_config({"model": model.name, "text": text, "token": token, "induction_period": period})
    head_view(cap, run.file("head_view.png"))
    model_view(cap, run.file("model_view.png"), token)
    metric_heatmaps(metrics, run.file("metrics.png"))
    layer_profile_plot({"text": metrics}, run.file("layers.png"))
    write_html(cap, run.file("attention.html"), labels)
    rows = metrics_table(metrics, labels)
    run.file("heads.json").write_text(json.dumps({"heads": rows}, indent=1) + "\n", encoding="utf-8")
    summary = {"model": model.name, "tokens": cap.seq_len, "layers": cap.n_layers, "heads": cap.n_heads,
               **cap.validity(), "kinds": _kinds(labels),
               "best_induction_head": _best(metrics, "induction"),
               "best_previous_token_head": _best(metrics, "previous_token"),
               "mean_sink": round(float(metrics["sink"].mean()), 4),
               "pictures": ["head_view.png", "model_view.png", "metrics.png", "layers.png", "attention.html"],
               "run": str(run.path)}
    run.save_summary(summary)
    return summary


def compare(model: AttentionModel, texts: list[str], out: str | Path | None = None,
            name: str | None = None) -> dict:
    """Metrics of each text, and each later text's deltas against the first: per head, and per layer."""
    if len(texts) < 2:
        raise LabError("compare needs at least two texts", hint="pass --text twice: --text 'A' --text 'B'")
    run = RunFolder.create("attention", name=name or "compare", out=out)
    run.save_config({"model": model.name, "texts": texts})
    caps = [model.capture_text(t) for t in texts]
    metrics = [head_metrics(c.probs) for c in caps]
    pictures, changes = [], []
    for k in range(1, len(texts)):
        deltas = metric_deltas(metrics[0], metrics[k])
        picture = f"deltas_0_{k}.png"
        delta_heatmaps(deltas, run.file(picture), title=f"text {k} minus text 0 (red: higher on text {k})")
        pictures.append(picture)
        changes.append({"against": k, "largest": top_changes(deltas)})
    layer_profile_plot({f"text {i}": m for i, m in enumerate(metrics)}, run.file("layers.png"))
    pictures.append("layers.png")
    summary = {"model": model.name, "texts": texts, "tokens": [c.seq_len for c in caps],
               "layers": {f"text {i}": layer_profile(m) for i, m in enumerate(metrics)},
               "changes": changes, "pictures": pictures, "run": str(run.path)}
    run.save_summary(summary)
    return summary
