"""Roadmap step for project 6: train the toy model, capture its attention three ways, measure and draw every head.

quick (about 30 s of the demo's 10 minutes): the toy 2-layer GPT-2 for up to 3000 steps / 20 s on repeated random
strings; full: 12,000 steps (about 2 minutes). Both report the loss on each copy of r + r, then check the HF
capture against a hand recomputation from q and k, and the NumPy GPT's capture against HF's on the same weights.
"""

from __future__ import annotations

import numpy as np

from llmlab.attention.metrics import SCORES_IN_UNIT

REPEATED = "qwkzrbtmyhdx" * 2            # a random string twice: its second half is predictable only by induction
PLAIN = "thelazydogsleepsallday"         # no repetition: the induction heads have nothing to find


def run(ctx) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmlab.attention.analysis import compare, show
    from llmlab.attention.capture import HFAttentionModel, NumpyAttentionModel
    from llmlab.attention.metrics import head_metrics
    from llmlab.attention.reference import recompute_attention
    from llmlab.attention.toy import train_toy
    from llmlab.numpy_transformer import GPT

    shape = (["max_steps=20", "n_windows=640"] if ctx.smoke else ["max_steps=3000", "max_time=20"] if ctx.quick
             else ["max_steps=12000"])
    toy = train_toy(out=ctx.out / "toy", overrides=shape + [f"seed={ctx.seed}"], overwrite=True)   # its own run, again
    directory = toy["model_dir"]
    tok = AutoTokenizer.from_pretrained(directory)
    hf = HFAttentionModel(AutoModelForCausalLM.from_pretrained(directory), tok, "toy")
    # the induction test runs at periods 12 and 8: a head that looks a fixed distance back cannot pass both
    view = show(hf, REPEATED, out=ctx.out / "show", period=12)
    across = compare(hf, [REPEATED, PLAIN], out=ctx.out / "compare")

    cap = hf.capture_text(REPEATED)
    hand_error = float(np.abs(cap.probs - recompute_attention(hf.model, cap.ids)).max())
    numpy_cap = NumpyAttentionModel(GPT.from_pretrained(directory, dtype="float64"), tok).capture_ids(cap.ids)
    numpy_error = float(np.abs(numpy_cap.probs - cap.probs).max())
    metrics = head_metrics(cap.probs)
    units = [metrics[k] for k in SCORES_IN_UNIT if k in metrics]
    in_range = (all(((v >= -1e-6) & (v <= 1 + 1e-6)).all() for v in units)
                and ((metrics["distance"] >= 0) & (metrics["distance"] <= cap.seq_len - 1)).all()
                and (metrics["entropy"] >= -1e-9).all())
    page = (ctx.out / "show" / "attention.html").read_text(encoding="utf-8")
    ind, prev = view["best_induction_head"], view["best_previous_token_head"]
    checks = {
        "hf_capture_equals_hand_recomputation": hand_error < 1e-5,
        "numpy_capture_equals_hf": numpy_error < 1e-5,
        "rows_sum_to_one_and_causal": view["max_row_sum_error"] < 1e-5 and view["max_future_weight"] == 0.0,
        "metrics_in_range": bool(in_range),
        "html_self_contained": "http" not in page.lower(),
        "pictures_written": all((ctx.out / "show" / p).exists() for p in view["pictures"]),
    }
    return {
        "checks": checks,
        "headline": (f"toy 2-layer GPT-2, {toy['steps']} steps: val loss {toy['final_val_loss']:.2f} (uniform "
                     f"{toy['uniform_loss']:.2f}); on r + r (period {toy['copy_period']}) the second "
                     f"copy costs {toy['second_copy_loss']:.2f} nats, the first {toy['first_copy_loss']:.2f}; best induction head L{ind['layer']}H{ind['head']} {ind['score']:.2f}, "
                     f"previous-token L{prev['layer']}H{prev['head']} {prev['score']:.2f}; capture = hand "
                     f"recomputation to {hand_error:.0e}, NumPy = HF to {numpy_error:.0e}"),
        "pictures": [f"show/{p}" for p in view["pictures"] if p.endswith(".png")]
                    + [f"compare/{p}" for p in across["pictures"]],
        "html": "show/attention.html",
        "model": {"name": "toy 2-layer GPT-2 trained here", "params": toy["params"]},
        "steps": toy["steps"], "final_val_loss": toy["final_val_loss"], "uniform_loss": toy["uniform_loss"],
        "first_copy_loss": toy["first_copy_loss"], "second_copy_loss": toy["second_copy_loss"],
        "hand_recomputation_max_error": hand_error, "numpy_vs_hf_max_error": numpy_error,
        "best_induction_head": ind, "best_previous_token_head": prev, "kinds": view["kinds"],
        "largest_changes_repeated_vs_plain": across["changes"][0]["largest"],
    }
