"""Offline chain-of-thought: the same tiny transformer trained to answer multi-step arithmetic directly or
through a written scratchpad of intermediate results, then tested on held-out problems.

    summary = compare_cot(CotPreset(), out="runs/cot/train")      # both conditions, pictures, summary.json

A problem chains n operations on d-digit numbers, evaluated left to right and kept to d digits (mod 10^d):
    "3*4+7-2="    r0 = 3, r1 = 3*4 = 2, r2 = 2+7 = 9, r3 = 9-2 = 7
answer only:   "3*4+7-2=7."                     (all n operations in one forward pass)
scratchpad:    "3*4+7-2=3*4=2,2+7=9,9-2=7."     (one operation per step, each step's result written down)
Both conditions share the model shape, the training problems, the optimizer steps and the batch size; the loss
is taken on the text after "=" only. Scoring is exact match of the final value.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llmlab.config import apply_overrides
from llmlab.errors import LabError

ALPHABET = "0123456789+-*=,."
MODES = ("answer", "scratchpad")


@dataclass
class CotPreset:
    modulus: int = 10                # values live in [0, modulus): 10 = one digit, 100 = two digits, 7, ...
    min_ops: int = 2                 # operations per problem, drawn uniformly from [min_ops, max_ops]
    max_ops: int = 4
    ops: str = "+-*"
    n_train: int = 40_000            # fixed training problems (evaluation uses problems not among them)
    n_eval: int = 100                # held-out problems per number of operations
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    max_steps: int = 1000            # optimizer steps, the same for both conditions
    max_time: float | None = None
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 50
    seed: int = 0
    threads: int = 1                 # a model this small trains fastest on one thread
    device: str = "cpu"
    modes: list[str] = field(default_factory=lambda: list(MODES))
    scratchpad: str = "steps"        # steps: "3*4=2,2+7=9,9-2=7." | results: "2,9,7." (values only, shorter)


@dataclass(frozen=True)
class Chain:
    start: int
    steps: tuple[tuple[str, int], ...]          # (operator, operand) in order

    def results(self, mod: int) -> list[int]:
        """The running value after each operation, mod `mod`."""
        value, out = self.start, []
        for op, x in self.steps:
            value = (value + x if op == "+" else value - x if op == "-" else value * x) % mod
            out.append(value)
        return out


def make_chains(count: int, cfg: CotPreset, seed: int) -> list[Chain]:
    rng = np.random.default_rng(seed)
    mod, ops = cfg.modulus, list(cfg.ops)
    lengths = rng.integers(cfg.min_ops, cfg.max_ops + 1, count)
    return [Chain(int(rng.integers(mod)), tuple((ops[int(rng.integers(len(ops)))], int(rng.integers(mod)))
                                               for _ in range(n))) for n in lengths]


def width(mod: int) -> int:
    return len(str(mod - 1))


def prompt_text(chain: Chain, mod: int) -> str:
    """Numbers are zero-padded to the modulus' width, so every problem with n operations has the same
    length."""
    digits = width(mod)
    return f"{chain.start:0{digits}d}" + "".join(f"{op}{x:0{digits}d}" for op, x in chain.steps) + "="


def target_text(chain: Chain, mod: int, mode: str, style: str = "steps",
                results: list[int] | None = None) -> str:
    """The answer text; `results` replaces the true running values (a demonstrator's own, wrong ones)."""
    digits, results = width(mod), chain.results(mod) if results is None else results
    if mode == "answer":
        return f"{results[-1]:0{digits}d}."
    if style == "results":
        return ",".join(f"{r:0{digits}d}" for r in results) + "."
    values = [chain.start, *results]
    return ",".join(f"{values[i]:0{digits}d}{op}{x:0{digits}d}={values[i + 1]:0{digits}d}"
                    for i, (op, x) in enumerate(chain.steps)) + "."


def read_answer(text: str) -> str:
    """The final value of a generated continuation: the last field before ".", after any "=" or ","."""
    body = text.split(".", 1)[0]
    return body.replace("=", ",").split(",")[-1]


def build_rows(chains: list[Chain], cfg: CotPreset, mode: str, tok) -> tuple[np.ndarray, np.ndarray]:
    from llmlab.training.batches import pad_rows

    seqs, masks = [], []
    for c in chains:
        prompt, target = tok.encode(prompt_text(c, cfg.modulus)), tok.encode(target_text(c, cfg.modulus, mode,
                                                                                         cfg.scratchpad))
        seqs.append(prompt + target)
        masks.append([False] * len(prompt) + [True] * len(target))
    return pad_rows(seqs, masks, pad_id=tok.encode(".")[0])


def evaluate(model, tok, chains: list[Chain], cfg: CotPreset, mode: str, batch: int = 256) -> list[dict]:
    """Greedy answers to held-out problems, batched by length (equal-length prompts), one row per problem."""
    from llmlab.generation import SamplingParams, generate

    longest = max(len(target_text(c, cfg.modulus, mode, cfg.scratchpad)) for c in chains)
    params = SamplingParams(temperature=0.0, max_new_tokens=longest + 2,
                            stop_token_ids=tuple(tok.encode(".")))
    groups: dict[int, list[Chain]] = defaultdict(list)
    for c in chains:
        groups[len(c.steps)].append(c)
    rows = []
    for n_ops, group in sorted(groups.items()):
        for i in range(0, len(group), batch):
            part = group[i:i + batch]
            prompts = [tok.encode(prompt_text(c, cfg.modulus)) for c in part]
            texts = generate(model, prompts, params, tokenizer=tok).texts
            for c, text in zip(part, texts, strict=True):
                want = f"{c.results(cfg.modulus)[-1]:0{width(cfg.modulus)}d}"
                rows.append({"mode": mode, "ops": n_ops, "prompt": prompt_text(c, cfg.modulus),
                             "expected": target_text(c, cfg.modulus, mode, cfg.scratchpad), "output": text,
                             "answer": read_answer(text), "correct": read_answer(text) == want,
                             "steps_right": text.split(".")[0] + "." == target_text(c, cfg.modulus, mode,
                                                                                    cfg.scratchpad)})
    return rows


def held_out(cfg: CotPreset, train: list[Chain]) -> list[Chain]:
    """`n_eval` problems per number of operations that are not among the training problems."""
    seen = {prompt_text(c, cfg.modulus) for c in train}
    out, rng_seed = [], cfg.seed + 10_000
    for n_ops in range(cfg.min_ops, cfg.max_ops + 1):
        one = apply_overrides(cfg, [f"min_ops={n_ops}", f"max_ops={n_ops}"])
        fresh = [
            c
            for c in make_chains(cfg.n_eval * 4, one, rng_seed + n_ops)
            if prompt_text(c, cfg.modulus) not in seen
        ]
        out.extend(list(dict.fromkeys(fresh))[:cfg.n_eval])
    return out


def validate(cfg: CotPreset) -> None:
    if not 1 <= cfg.min_ops <= cfg.max_ops:
        raise LabError(f"min_ops={cfg.min_ops}, max_ops={cfg.max_ops}: need 1 <= min_ops <= max_ops",
                       hint="--set min_ops=2 --set max_ops=5")
    if cfg.modulus < 2 or not cfg.ops or set(cfg.ops) - set("+-*"):
        raise LabError(f"modulus={cfg.modulus}, ops={cfg.ops!r}: need modulus >= 2 and ops drawn from '+-*'",
                       hint="--set modulus=10 --set ops=+-*")
    if not cfg.modes or set(cfg.modes) - set(MODES):
        raise LabError(f"modes {cfg.modes} must be drawn from {', '.join(MODES)}",
                       hint="--set modes=answer,scratchpad")


def compare_cot(preset: CotPreset | None = None, out: str | Path | None = None,
                overrides: list[str] | None = None, overwrite: bool = False) -> dict:
    """Train one model per mode on the same problems, score them on the same held-out problems; the summary.
    A folder that already holds a run is refused unless `overwrite`."""
    from llmlab.experiments.report import accuracy_table, write_jsonl
    from llmlab.experiments.sequences import MaskedRows
    from llmlab.runs import RunFolder
    from llmlab.tokenizer.char import CharTokenizer
    from llmlab.training import count_params
    from llmlab.training.toy_gpt import train_toy_gpt

    cfg = apply_overrides(preset or CotPreset(), overrides)
    validate(cfg)
    run = RunFolder.start("cot", name="train", out=out, overwrite=overwrite)
    run.save_config(cfg)
    tok = CharTokenizer(list(ALPHABET), unk=False)
    train_chains = make_chains(cfg.n_train, cfg, cfg.seed)
    val_chains = make_chains(512, cfg, cfg.seed + 1)
    test = held_out(cfg, train_chains)
    results, rows = {}, []
    for mode in cfg.modes:
        train = MaskedRows(*build_rows(train_chains, cfg, mode, tok), cfg.batch_size, seed=cfg.seed)
        val = MaskedRows(*build_rows(val_chains, cfg, mode, tok), cfg.batch_size, seed=cfg.seed + 1)
        model, summary = train_toy_gpt(cfg, train, val, tok, RunFolder.create("cot", out=run.path / mode),
                                       run_config=cfg,
                                        description=f"cot {mode}")
        items = evaluate(model, tok, test, cfg, mode)
        rows.extend(items)
        results[mode] = {"steps": summary["steps"], "train_seconds": summary["train_seconds"],
                         "final_val_loss": summary["final_val_loss"], "params": count_params(model),
                         "tokens_per_row": train.block_size + 1,
                         "model_dir": str(run.path / mode / "checkpoint")}
    write_jsonl(rows, run.file("items.jsonl"))
    table = accuracy_table(rows, by=("mode", "ops"))
    overall = accuracy_table(rows, by=("mode",))
    return {"config": cfg, "run": run, "conditions": results, "table": table, "overall": overall,
            "items": rows}


def cot_summary(result: dict) -> dict:
    """Headline figures, the per-operations table and the picture of a `compare_cot` result (also
    summary.json)."""
    from llmlab.experiments.pictures import cot_training_picture
    from llmlab.experiments.report import lookup

    cfg, run, overall = result["config"], result["run"], result["overall"]
    picture = cot_training_picture(result["table"], run.file("accuracy_by_ops.png"), chance=1 / cfg.modulus)
    acc = {r["mode"]: r for r in overall}
    most = cfg.max_ops
    at_most = {m: lookup(result["table"], mode=m, ops=most) for m in cfg.modes}
    parts = [
        f"{m} {acc[m]['accuracy']:.0%} [{acc[m]['ci_low']:.0%}, {acc[m]['ci_high']:.0%}]" for m in cfg.modes
    ]
    deepest = ", ".join(f"{m} {at_most[m]['accuracy']:.0%}" for m in cfg.modes if at_most[m])
    first = result["conditions"][cfg.modes[0]]
    summary = {
        "headline": (f"tiny GPT-2 ({first['params']:,} params, {first['steps']} steps per condition) on "
                     f"held-out "
                     f"{cfg.min_ops}-{cfg.max_ops}-operation chains mod {cfg.modulus}: " + " vs ".join(parts)
                     + f"; at {most} operations {deepest}"),
        "accuracy": {m: acc[m]["accuracy"] for m in cfg.modes},
        "ci95": {m: [acc[m]["ci_low"], acc[m]["ci_high"]] for m in cfg.modes},
        "by_ops": [{k: r[k] for k in ("mode", "ops", "n", "accuracy", "ci_low",
                                      "ci_high")} for r in result["table"]],
        "conditions": result["conditions"], "chance": 1 / cfg.modulus,
        "pictures": [picture.name], "items": "items.jsonl",
    }
    run.save_summary(summary)
    return summary
