"""Roadmap step for project 3: every architecture briefly on one corpus, then the decoders side by side.

Quick (about 30-60 s on a 2-core laptop): the `tiny` preset, 300 steps per architecture on python-docs (capped
at 15 s each, so a busy machine still finishes), then five decoding strategies on the best model.
Full: the `cpu` preset, 120 s each on tinyshakespeare.
"""

from __future__ import annotations

import math

from llmlab.roadmap.runner import StepContext


def run(ctx: StepContext) -> dict:
    from llmlab.charlm.compare import compare_architectures
    from llmlab.charlm.decoding import compare_decoding
    from llmlab.charlm.models import load_charlm

    corpus, preset, seconds, steps = (("python-docs", "tiny", 15.0, 5 if ctx.smoke else 300) if ctx.quick
                                      else ("tinyshakespeare", "cpu", 120.0, None))
    arch = compare_architectures(corpus, ["rnn", "lstm", "gru", "transformer"], preset, seconds,
                                 overrides=[f"seed={ctx.seed}", "report_to=none"], out=ctx.out,
                                 max_steps=steps,
                                 overwrite=True)         # the roadmap replaces its own runs every time
    best = arch["best_model"]
    model, tok = load_charlm(ctx.out / best)
    prompt = "The " if corpus == "python-docs" else "ROMEO:"
    rows = compare_decoding(model, tok, prompt, tokens=20 if ctx.smoke else 120 if ctx.quick else 300,
                            seed=ctx.seed)
    ppl = {r["strategy"]: r["perplexity"] for r in rows}
    uniform = math.log(tok.vocab_size)       # the loss of guessing every character equally
    checks = {f"{m}_learned": (r["best_val_loss"] or uniform) < 0.9 * uniform for m,
              r in arch["models"].items()}
    checks["five_strategies_generated"] = all(r["text"] for r in rows)
    checks["beam_likelier_than_sampling"] = bool(
        ppl["beam"] and ppl["sample"] and ppl["beam"] < ppl["sample"]
    )
    losses = " · ".join(f"{m} {r['best_val_loss']:.2f}" for m, r in arch["models"].items())
    return {
        "checks": checks,
        "headline": f"val loss on {corpus} ({f'{steps} steps' if steps else f'{seconds:.0f} s'} each): "
                    f"{losses}; own perplexity beam "
                    f"{ppl['beam']:.2f} vs sampling {ppl['sample']:.2f}",
        "pictures": ["architectures.png", f"{best}/loss.png"],
        "model": [{"name": f"char {m}", "params": r["params"]} for m, r in arch["models"].items()],
        "architectures": arch["models"], "decoding": rows, "best_model": best,
        "uniform_loss": uniform,
    }
