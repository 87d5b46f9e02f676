"""Watch an induction head form: train the attention-only toy (induction_toy.py) with `llmlab.training`, and
every `measure_every` steps save a snapshot and measure the loss, the in-context-learning score, every head's
induction and previous-token scores, and the K-composition between the layers.

    summary = run_emergence(InductionPreset(), out="runs/attention/emergence")     # + emergence.png
    llmlab attention emergence --seeds 3                                            # the 3-seed demonstration

The in-context-learning score (Olsson et al. 2022) is the loss on late tokens minus the loss on early
tokens of the same windows: here the mean loss on the last quarter of each validation window minus the
first quarter. It turns negative when the model starts using its context, which in this data only copying
can do. The phase change shows as all of these at once: the loss leaves its plateau, the ICL score drops,
a layer-1 head's induction score jumps from near 0 to above 0.5, a layer-0 head becomes a previous-token
head, and the K-composition between the two rises. Ablating the induction head(s) at the end (zeroing
their output) shows they carry the copy: the second copy's loss climbs back towards the first copy's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmlab.attention.induction_toy import InductionPreset, build_induction_model, segment_windows
from llmlab.config import apply_overrides
from llmlab.errors import LabError

INDUCTION_PERIOD = 12  # the induction test's longer period (the other is 2/3 of it), as `show` uses
COPY_PERIOD = 8  # the per-copy losses on r + r
FORMED = 0.5  # an induction score above this counts as an induction head


def check_preset(cfg: InductionPreset) -> None:
    if not 2 <= cfg.min_period <= cfg.max_period <= cfg.block_size // 2:
        raise LabError(
            f"segment lengths [{cfg.min_period}, {cfg.max_period}] must satisfy 2 <= min <= max <= "
            f"{cfg.block_size // 2} (block_size / 2: a window holds both copies)",
            hint="--set max_period=... or a larger block_size",
        )
    if cfg.n_layer < 2:
        raise LabError(
            "an induction head needs two layers (a previous-token head feeds it)", hint="n_layer=2"
        )
    if cfg.measure_every < 1:
        raise LabError("measure_every must be at least 1", hint="--set measure_every=50")


def measure(model, val: np.ndarray, n_symbols: int, seed: int) -> dict:
    """Every figure of one moment of training: val loss, ICL score, per-copy losses, and per-head scores."""
    import torch

    from llmlab.attention.analysis import induction_test
    from llmlab.attention.capture import HFAttentionModel
    from llmlab.attention.composition import k_composition
    from llmlab.attention.metrics import head_metrics
    from llmlab.attention.toy import copy_losses

    model.eval()
    ids = torch.as_tensor(val.astype(np.int64))  # (N, T + 1)
    with torch.no_grad():
        logits = model(input_ids=ids[:, :-1]).logits.float()  # (N, T, V)
    # (T,)
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none").mean(0)
    quarter = max(1, len(nll) // 4)
    watched = HFAttentionModel(model, None, "toy")
    watched.vocab_size = n_symbols  # the letters only: the unknown-character id never occurs
    probs = watched.capture_ids(val[:16, :-1].astype(np.int64)).probs
    scores = induction_test(watched, INDUCTION_PERIOD, batch=16, seed=seed)
    return {
        "val_loss": float(nll.mean()),
        "icl_score": float(nll[-quarter:].mean() - nll[:quarter].mean()),
        **copy_losses(model, n_symbols, COPY_PERIOD, seed=seed),
        "induction": scores["induction"].round(4).tolist(),  # (L, H)
        "previous_token": head_metrics(probs)["previous_token"].round(4).tolist(),
        "k_composition": k_composition(model, 0, 1).round(4).tolist(),
    }  # (H layer 1, H layer 0)


def _phase_change(rows: list[dict], layer: int, head: int) -> dict:
    """When the first head after layer 0 crossed FORMED (the phase change; several heads often rise together),
    when the chosen head (layer, head) did, and where the ICL score fell the most between two measurements."""
    steps = [r["step"] for r in rows]

    def first(values):
        return next((s for s, v in zip(steps, values, strict=True) if v >= FORMED), None)

    icl = np.array([r["icl_score"] for r in rows])
    drop = int(np.argmin(np.diff(icl))) if len(icl) > 1 else 0
    return {
        "formed_at_step": first([max(max(h) for h in r["induction"][1:]) for r in rows]),
        "chosen_head_formed_at_step": first([r["induction"][layer][head] for r in rows]),
        "icl_drop_between": [steps[drop], steps[min(drop + 1, len(steps) - 1)]],
        "icl_before": float(icl[0]),
        "icl_after": float(icl[-1]),
    }


def run_emergence(
    preset: InductionPreset | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    overwrite: bool = False,
    name: str = "emergence",
) -> dict:
    """Train one seed while measuring; write emergence.jsonl, snapshots/, emergence.png and summary.json."""
    from llmlab.attention.components import zero_heads
    from llmlab.attention.emergence_view import emergence_figure
    from llmlab.attention.toy import copy_losses
    from llmlab.runs import RunFolder
    from llmlab.tokenizer.char import CharTokenizer
    from llmlab.training import TokenWindows, TrainConfig, Trainer

    cfg = apply_overrides(preset or InductionPreset(), overrides)
    check_preset(cfg)
    run = RunFolder.start("attention", name=name, out=out, overwrite=overwrite)
    tok = CharTokenizer(list(cfg.alphabet), unk=True)
    n = len(cfg.alphabet)

    def windows(count: int, seed: int) -> np.ndarray:
        return segment_windows(count, cfg.block_size + 1, n, cfg.min_period, cfg.max_period, seed)

    # one shard per window: TokenWindows never lets a window straddle two, so each row stays whole
    train = TokenWindows(
        list(windows(cfg.n_windows, cfg.seed)), cfg.block_size, cfg.batch_size, seed=cfg.seed
    )
    held_out = windows(256, cfg.seed + 10_000)
    val = TokenWindows(list(held_out), cfg.block_size, cfg.batch_size, seed=cfg.seed + 10_000)
    model = build_induction_model(cfg, tok.vocab_size)
    rows: list[dict] = []
    trainer = None

    def record(m) -> dict:
        step = trainer.step if trainer is not None else 0
        if rows and rows[-1]["step"] == step:  # the last interval and the end can coincide
            return {}
        rows.append({"step": step, **measure(m, held_out, n, cfg.seed + 20_000)})
        with open(run.file("emergence.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(rows[-1]) + "\n")
        m.save_pretrained(run.file(f"snapshots/step_{step:06d}"))
        m.train()
        return {}  # nothing for the Trainer to log as a text sample

    # constant lr, Adam's usual betas, no clipping: the lab's defaults (beta2 0.99, clipping at 1) delayed the
    # phase change from 650 to about 850 steps (seed 0) and left the induction scores lower at 1,500 steps
    train_cfg = TrainConfig(
        max_steps=cfg.max_steps,
        max_time=cfg.max_time,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        min_lr=cfg.lr,
        schedule="constant",
        warmup_steps=cfg.warmup_steps,
        weight_decay=0.0,
        beta2=0.999,
        grad_clip=0.0,
        eval_interval=0,
        eval_iters=4,
        log_interval=10,
        sample_interval=cfg.measure_every,
        sample_prompts=[],
        checkpoint_interval=0,
        save_best=False,
        report_to="none",
        seed=cfg.seed,
        threads=cfg.threads,
        device="cpu",
    )
    record(model)  # step 0, before any training
    trainer = Trainer(
        model,
        train_cfg,
        run,
        train,
        val,
        tokenizer=tok,
        sample_fn=record,
        run_config=cfg,
        description=f"emergence seed {cfg.seed}",
    )
    result = trainer.fit()
    model.eval()

    last = np.array(rows[-1]["induction"])  # (L, H)
    layer, head = np.unravel_index(int(np.argmax(last[1:])), last[1:].shape)
    layer = int(layer) + 1  # an induction head needs a layer before it
    prev = (
        int(np.argmax(rows[-1]["k_composition"][head]))
        if layer == 1
        else int(np.argmax(np.array(rows[-1]["previous_token"])[0]))
    )
    intact = copy_losses(model, n, COPY_PERIOD, seed=cfg.seed + 30_000)
    with zero_heads(model, [(layer, int(head))]):
        ablated = copy_losses(model, n, COPY_PERIOD, seed=cfg.seed + 30_000)
    with zero_heads(model, [(0, prev)]):
        prev_ablated = copy_losses(model, n, COPY_PERIOD, seed=cfg.seed + 30_000)
    # every head after layer 0 that scores as an induction head: copying may be shared between several
    induction_heads = [(la, h) for la, h in zip(*np.nonzero(last >= 0.3), strict=True) if la >= 1]
    with zero_heads(model, [(int(la), int(h)) for la, h in induction_heads]):
        all_ablated = copy_losses(model, n, COPY_PERIOD, seed=cfg.seed + 30_000)
    summary = {
        "seed": cfg.seed,
        "steps": result["steps"],
        "train_seconds": result["train_seconds"],
        "params": result["params"],
        "uniform_loss": float(np.log(n)),
        "induction_head": {"layer": layer, "head": int(head), "score": float(last[layer, head])},
        "previous_token_head": {
            "layer": 0,
            "head": prev,
            "score": float(rows[-1]["previous_token"][0][prev]),
            "k_composition": float(rows[-1]["k_composition"][head][prev]),
        },
        **_phase_change(rows, layer, int(head)),
        "copy_losses": intact,
        "induction_head_ablated": ablated,
        "previous_token_head_ablated": prev_ablated,
        "induction_heads": [f"L{la}H{h}" for la, h in induction_heads],
        "all_induction_heads_ablated": all_ablated,
        "measurements": len(rows),
        "model_dir": str(run.path / "checkpoint"),
    }
    emergence_figure(rows, trainer_losses(run), summary, run.file("emergence.png"))
    summary["pictures"] = ["emergence.png"]
    run.save_summary(summary)
    return summary


def trainer_losses(run) -> tuple[list[int], list[float]]:
    """(steps, training loss) from the Trainer's metrics.jsonl."""
    rows = [r for r in run.metrics() if "loss" in r and "step" in r]
    return [r["step"] for r in rows], [r["loss"] for r in rows]


def run_seeds(
    seeds: list[int],
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    overwrite: bool = False,
) -> dict:
    """run_emergence once per seed (in out/seed_<k>), and one figure of every seed's curves."""
    from llmlab.attention.emergence_view import seeds_figure
    from llmlab.runs import RunFolder

    top = RunFolder.start("attention", name="emergence", out=out, overwrite=overwrite)
    runs = [
        run_emergence(
            out=top.file(f"seed_{s}"), overrides=[*(overrides or []), f"seed={s}"], overwrite=overwrite
        )
        for s in seeds
    ]
    histories = [
        [json.loads(line) for line in (top.path / f"seed_{s}" / "emergence.jsonl").read_text().splitlines()]
        for s in seeds
    ]
    seeds_figure(histories, runs, top.file("emergence_seeds.png"))
    summary = {
        "seeds": runs,
        "formed": sum(r["formed_at_step"] is not None for r in runs),
        "pictures": ["emergence_seeds.png"] + [f"seed_{s}/emergence.png" for s in seeds],
    }
    top.save_summary(summary)
    return summary
