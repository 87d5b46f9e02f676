"""Offline in-context learning: a tiny transformer trained on sequences of (x -> y) demonstrations, each
sequence from its own random task, then tested on tasks it never saw: accuracy of the next answer vs shots in
context.

    summary = train_icl(IclPreset(), out="runs/icl/train")

A task is a random map f from n_inputs symbols (letters) to n_labels labels (digits). A sequence is
    x1 f(x1) x2 f(x2) ... xK f(xK)      e.g.  "c2a0c2f1a0..."
with the loss on the labels only. The label of pair k+1 is predicted after k demonstrations, so one pass over
a held-out sequence gives the k-shot prediction for every k = 0..K-1. With a task the model has never seen,
the only way past chance (1/n_labels) is to find the query among the demonstrations and copy its label:
zero-shot is chance by construction, and an ideal in-context learner scores P(x seen) + P(x unseen) / n_labels
at k shots.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmlab.config import apply_overrides
from llmlab.errors import LabError

LETTERS = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"


@dataclass
class IclPreset:
    n_inputs: int = 8                # input symbols (letters a, b, ...)
    n_labels: int = 4                # labels (digits 0, 1, ...): chance is 1 / n_labels
    pairs: int = 16                  # demonstrations per training sequence (K)
    # pair: the answer token names x and y ("c>2"); label: the answer is y alone
    answer_token: str = "pair"
    n_train: int = 20_000            # training sequences, each from a fresh random task
    n_eval: int = 500                # held-out sequences (fresh tasks); each scores every shot count 0..K-1
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    # start positions from sines: the "label after the matching x" lookup needs
    sinusoidal_positions: bool = True
                                       # a previous-token head, which such positions make a linear map
    max_steps: int = 600
    max_time: float | None = None
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 50
    seed: int = 0
    threads: int = 1
    device: str = "cpu"


def validate(cfg: IclPreset) -> None:
    if not 2 <= cfg.n_inputs <= len(LETTERS) or not 2 <= cfg.n_labels <= len(DIGITS):
        raise LabError(f"n_inputs={cfg.n_inputs}, n_labels={cfg.n_labels}: need 2..26 inputs and 2..10 "
                       f"labels",
                       hint="--set n_inputs=8 --set n_labels=4")
    if cfg.answer_token not in ("pair", "label"):
        raise LabError(f"answer_token={cfg.answer_token!r}", hint="use pair or label")
    if cfg.pairs < 2:
        raise LabError(f"pairs={cfg.pairs}: a sequence needs at least 2 demonstrations",
                       hint="--set pairs=16")


def make_sequences(count: int, cfg: IclPreset, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, K) input ids in [0, n_inputs) and (count, K) labels in [0, n_labels): one random task per
    row."""
    rng = np.random.default_rng(seed)
    tasks = rng.integers(0, cfg.n_labels, (count, cfg.n_inputs))          # row r: f_r(x) = tasks[r, x]
    xs = rng.integers(0, cfg.n_inputs, (count, cfg.pairs))
    return xs, np.take_along_axis(tasks, xs, axis=1)


def answer_ids(xs: np.ndarray, ys: np.ndarray, cfg: IclPreset) -> np.ndarray:
    """Token ids of the answers: after the n_inputs input tokens come the answer tokens, one per (x, y) pair
    in the "pair" form (so a demonstration's answer token also says which input it answers), one per y
    otherwise."""
    return cfg.n_inputs + (xs * cfg.n_labels + ys if cfg.answer_token == "pair" else ys)


def to_rows(xs: np.ndarray, ys: np.ndarray, cfg: IclPreset) -> tuple[np.ndarray, np.ndarray]:
    """Interleave into token rows x1 a1 x2 a2 ... (a_i the answer token of (x_i, y_i)); the answers are
    targets."""
    rows = np.empty((xs.shape[0], 2 * cfg.pairs), dtype=np.int64)
    rows[:, 0::2], rows[:, 1::2] = xs, answer_ids(xs, ys, cfg)
    targets = np.zeros(rows.shape, dtype=bool)
    targets[:, 1::2] = True
    return rows, targets


def vocabulary(cfg: IclPreset) -> list[str]:
    """How each token id reads: the inputs "a".."h", then the answers ("a>0", "a>1", ... or "0", "1", ...)."""
    inputs, labels = LETTERS[:cfg.n_inputs], DIGITS[:cfg.n_labels]
    answers = [f"{x}>{y}" for x in inputs for y in labels] if cfg.answer_token == "pair" else list(labels)
    return list(inputs) + answers


def show(row: np.ndarray, cfg: IclPreset) -> str:
    words = vocabulary(cfg)
    return " ".join(words[int(i)] for i in row)


def ideal_accuracy(k: int, cfg: IclPreset) -> float:
    """A perfect in-context learner after k demonstrations: the query was among them with prob 1 - (1 -
    1/n)^k."""
    seen = 1.0 - (1.0 - 1.0 / cfg.n_inputs) ** k
    return seen + (1.0 - seen) / cfg.n_labels


def shot_predictions(model, xs: np.ndarray, ys: np.ndarray, cfg: IclPreset, batch: int = 256) -> list[dict]:
    """One row per (sequence, k): the greedy next token after k demonstrations and the query, scored."""
    import torch

    rows, _ = to_rows(xs, ys, cfg)
    words, out = vocabulary(cfg), []
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            logits = model(input_ids=torch.from_numpy(rows[i:i + batch])).logits    # (B, 2K, V)
            # (B, K): at each query x_k
            guess = logits[:, 0::2].argmax(-1).numpy()
            want = rows[i:i + batch, 1::2]
            for b in range(guess.shape[0]):
                seq_x = xs[i + b]
                for k in range(cfg.pairs):
                    out.append({"sequence": i + b, "shots": k, "seen": bool((seq_x[:k] == seq_x[k]).any()),
                                "expected": words[want[b, k]], "predicted": words[guess[b, k]],
                                "correct": bool(guess[b, k] == want[b, k])})
    return out


def train_icl(preset: IclPreset | None = None, out: str | Path | None = None,
              overrides: list[str] | None = None, overwrite: bool = False) -> dict:
    """Train on random tasks, score on held-out tasks; returns the config, run folder, tables and items.
    A folder that already holds a run is refused unless `overwrite`."""
    from llmlab.experiments.report import accuracy_table, write_jsonl
    from llmlab.experiments.sequences import MaskedRows
    from llmlab.runs import RunFolder
    from llmlab.training import count_params
    from llmlab.training.toy_gpt import train_toy_gpt

    cfg = apply_overrides(preset or IclPreset(), overrides)
    validate(cfg)
    run = RunFolder.start("icl", name="train", out=out, overwrite=overwrite)
    train = MaskedRows(*to_rows(*make_sequences(cfg.n_train, cfg, cfg.seed), cfg), cfg.batch_size,
                       seed=cfg.seed)
    val = MaskedRows(*to_rows(*make_sequences(512, cfg, cfg.seed + 1), cfg), cfg.batch_size,
                     seed=cfg.seed + 1)
    model, summary = train_toy_gpt(cfg, train, val, len(vocabulary(cfg)), run, run_config=cfg,
                                   description="icl")
    test_x, test_y = make_sequences(cfg.n_eval, cfg, cfg.seed + 10_000)
    items = shot_predictions(model, test_x, test_y, cfg)
    write_jsonl(items, run.file("items.jsonl"))
    by_shots = accuracy_table(items, by=("shots",))
    for row in by_shots:
        row["ideal"] = ideal_accuracy(row["shots"], cfg)
    return {"config": cfg, "run": run, "training": {**summary, "params": count_params(model)},
            "by_shots": by_shots, "by_seen": accuracy_table(items, by=("seen",)),
            "by_shots_seen": accuracy_table(items, by=("shots", "seen")), "items": items,
            "model_dir": str(run.path / "checkpoint")}


def icl_summary(result: dict) -> dict:
    """Headline figures, the shots table and the picture of a `train_icl` result (also summary.json)."""
    from llmlab.experiments.pictures import icl_training_picture
    from llmlab.experiments.report import lookup

    cfg, run, table = result["config"], result["run"], result["by_shots"]
    chance = 1 / cfg.n_labels
    picture = icl_training_picture(table, [r["ideal"] for r in table], chance,
                                   run.file("accuracy_by_shots.png"))
    seen, unseen = lookup(result["by_seen"], seen=True), lookup(result["by_seen"], seen=False)
    k0, kmax = table[0], table[-1]
    kmid = lookup(table, shots=min(4, cfg.pairs - 1))
    train = result["training"]
    summary = {
        "headline": (f"tiny GPT-2 ({train['params']:,} params, {train['steps']} steps) on unseen random "
                     f"tasks "
                     f"({cfg.n_inputs} inputs -> {cfg.n_labels} labels): 0-shot {k0['accuracy']:.0%} (chance "
                     f"{chance:.0%}), {kmid['shots']}-shot {kmid['accuracy']:.0%}, {kmax['shots']}-shot "
                     f"{kmax['accuracy']:.0%} (ideal {kmax['ideal']:.0%}); query among the demonstrations "
                     f"{seen['accuracy']:.0%}, not among them {unseen['accuracy']:.0%}"),
        "zero_shot": k0["accuracy"], "few_shot": {str(r["shots"]): r["accuracy"] for r in table},
        "ideal": {str(r["shots"]): r["ideal"] for r in table}, "chance": chance,
        "seen_accuracy": seen["accuracy"], "unseen_accuracy": unseen["accuracy"],
        "by_shots": [{k: r[k] for k in ("shots", "n", "accuracy", "ci_low", "ci_high",
                                        "ideal")} for r in table],
        "training": {k: train[k] for k in ("steps", "train_seconds", "final_val_loss", "params")},
        "example": show(to_rows(*make_sequences(1, cfg, cfg.seed + 10_000), cfg)[0][0], cfg),
        "pictures": [picture.name], "items": "items.jsonl",
    }
    run.save_summary(summary)
    return summary
