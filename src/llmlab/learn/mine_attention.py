"""`llmlab learn run attention --mine`: the toy model's heads measured with the learner's capture and metrics,
the per-head table beside llmlab's.

The toy 2-layer GPT-2 of project 6 (`llmlab.attention.toy`) is trained for `--steps` steps on repeated random
strings, then read on r + r (r: 8 random letters, 4 sequences): the attention is captured with the learner's
hooks and measured with their head metrics and induction scores, each piece that does not pass falling back to
llmlab's; beside it the same capture and metrics with llmlab's pieces. With llmlab's code in every file the
tables are equal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PERIOD = 8            # the toy's copy period: the middle of its training periods (4..12)
SYMBOLS = 26          # the toy's letters are ids 0..25
COLUMNS = ("entropy", "previous_token", "induction")


def random_model(seed: int = 0):
    """A tiny random GPT-2 shaped like the toy (2 layers, 4 heads, 26+ symbols) with sharp heads: for
    tests."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=64, vocab_size=SYMBOLS + 1,
                                       bos_token_id=None, eos_token_id=None)).eval()
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_attn.weight[:, :64].mul_(8.0)      # q and k columns: sharp maps, not near-flat ones
    return model


def trained_toy(folder: Path, steps: int, seed: int, log=print):
    """The toy model trained for `steps` steps into a new run folder under `folder`."""
    from transformers import AutoModelForCausalLM

    from llmlab.attention.toy import train_toy
    from llmlab.learn.mine_transformer import new_run_dir

    out = new_run_dir(folder) / "toy"
    log(f"training the toy 2-layer GPT-2 for {steps} steps on repeated random strings (into {out})")
    toy = train_toy(out=out, overrides=[f"max_steps={steps}", f"seed={seed}"])
    log(f"  val loss {toy['final_val_loss']:.3f} (uniform {toy['uniform_loss']:.3f}); loss on the second "
        f"copy of "
        f"r + r {toy['second_copy_loss']:.3f}, on the first {toy['first_copy_loss']:.3f}")
    return AutoModelForCausalLM.from_pretrained(toy["model_dir"]).eval()


def _measure(model, ids: np.ndarray, capture, metrics, scores) -> dict[str, np.ndarray]:
    probs = capture(model, ids)
    return {**metrics(np.asarray(probs)), **scores(np.asarray(probs), PERIOD, 0)}


def run_attention(folder: Path, modules: dict, steps: int = 60, seed: int = 0, log=print, model=None) -> dict:
    """Per-head metrics (L, H) of the toy on r + r, with llmlab's pieces and with the learner's passing
    ones."""
    import torch

    from llmlab.attention.hooks import capture_attention
    from llmlab.attention.metrics import head_metrics, repeated_random_ids, repetition_scores

    threads = torch.get_num_threads()
    torch.set_num_threads(1)           # a model this small runs fastest on one thread
    try:
        model = model if model is not None else trained_toy(folder, steps, seed, log)
        ids = repeated_random_ids(SYMBOLS, PERIOD, batch=4, seed=seed + 1)          # (4, 16): r + r
        reference = _measure(model, ids, capture_attention, head_metrics, repetition_scores)
        mine = _measure(
            model,
            ids,
            modules["capture"].capture_attention if "capture" in modules else capture_attention,
            modules["head_metrics"].head_metrics if "head_metrics" in modules else head_metrics,
            modules["induction"].repetition_scores if "induction" in modules else repetition_scores,
        )
    finally:
        torch.set_num_threads(threads)
    identical = all(key in mine and np.array_equal(np.asarray(mine[key]), value) for key,
                    value in reference.items())
    return {"reference": reference, "mine": mine, "identical": identical, "ids": ids}


def _best(metrics: dict[str, np.ndarray], key: str) -> str:
    values = np.asarray(metrics[key])
    l_, h = np.unravel_index(int(np.argmax(values)), values.shape)
    return f"L{l_}H{h} {float(values[l_, h]):.2f}"


def run_mine(folder: Path, modules: dict, steps: int = 60, seed: int = 0, log=print, model=None) -> str:
    """Print the per-head table (llmlab's value, then yours); return the tracker's one-line note."""
    result = run_attention(folder, modules, steps=steps, seed=seed, log=log, model=model)
    ref, mine = result["reference"], result["mine"]
    log(f"heads on r + r ({PERIOD} random letters twice, 4 sequences); each column: llmlab's, then yours")
    log("layer head " + "".join(f"{name:>30}" for name in COLUMNS))
    layers, heads = ref["entropy"].shape
    for l_ in range(layers):
        for h in range(heads):
            cells = []
            for name in COLUMNS:
                a, b = float(ref[name][l_, h]), float(np.asarray(mine[name])[l_, h])
                cells.append(f"{a:>12.4f} {b:>10.4f} {'same' if a == b else 'DIFF':>6}")
            log(f"{l_:>5} {h:>4} " + "".join(f"{c:>30}" for c in cells))
    same = "identical" if result["identical"] else "differs from llmlab's"
    log(f"best previous-token head: reference {_best(ref, 'previous_token')}, mine "
        f"{_best(mine, 'previous_token')}; "
        f"best induction head: reference {_best(ref, 'induction')}, mine {_best(mine, 'induction')} ({same})")
    pieces = ", ".join(sorted(set(modules) & {"capture", "head_metrics", "induction"})) or "none"
    where = "a given model" if model is not None else f"toy GPT-2, {steps} steps"
    return (f"run --mine ({where}; mine: {pieces}): best previous-token head "
            f"{_best(mine, 'previous_token')}, "
            f"best induction head {_best(mine, 'induction')} ({same})")
