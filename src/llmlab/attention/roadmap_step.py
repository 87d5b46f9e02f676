"""Roadmap step for project 6: watch an induction head form, then capture, measure, draw and take apart the
model it formed in.

quick (about 30 s of the demo's 10 minutes): the attention-only toy for 800 steps (at most 60 s), one seed
(the phase change comes after about 600 steps); full (`--full`): three seeds of 1,500 steps each, one after
the other. Both then run `show` and `compare` on the toy, check the HF capture against a hand
recomputation from q and k, the NumPy GPT's capture against HF's on the same GPT-2 weights (a GPT-2 toy
trained for 20 steps: the NumPy GPT reads GPT-2 checkpoints), and the three tools on the induction example:
the lens after the last layer equals the logits, patching everything restores the clean run, the direct
logit attributions sum to the logit.
"""

from __future__ import annotations

import numpy as np

from llmlab.attention.metrics import SCORES_IN_UNIT

REPEATED = "qwkzrbtmyhdx" * 2  # a random string twice: its second half is predictable only by induction
PLAIN = "thelazydogsleepsallday"  # no repetition: the induction heads have nothing to find
# the induction example for patching: r + r[:6] predicts r[6] = "t"; changing the first copy's "t" to "a"
# makes a copying model predict "a"
CLEAN, CORRUPTED, ANSWER, WRONG = "qwkzrbtmyhdxqwkzrb", "qwkzrbamyhdxqwkzrb", "t", "a"
# a layer-1 head passes 0.5 at 650-700 steps (lr 1e-3, three seeds measured); 800 steps take about 20 s of
# one idle core (20 ms a step); the cap keeps a busy machine's step short, at the price of stopping before it
QUICK_STEPS, QUICK_SECONDS = 800, 60.0


def _emergence(ctx) -> tuple[dict, str]:
    """(summary of the seed to look at, its model directory)."""
    from llmlab.attention.emergence import run_emergence, run_seeds

    out = ctx.out / "emergence"
    if ctx.smoke:
        s = run_emergence(
            out=out,
            overrides=["max_steps=20", "n_windows=640", "measure_every=10", f"seed={ctx.seed}"],
            overwrite=True,
        )
        return s, s["model_dir"]
    if ctx.quick:
        s = run_emergence(
            out=out,
            overrides=[f"max_steps={QUICK_STEPS}", f"max_time={QUICK_SECONDS}", f"seed={ctx.seed}"],
            overwrite=True,
        )
        return s, s["model_dir"]
    many = run_seeds([ctx.seed, ctx.seed + 1, ctx.seed + 2], out=out, overwrite=True)
    return many["seeds"][0] | {"all_seeds": many["seeds"]}, many["seeds"][0]["model_dir"]


def run(ctx) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmlab.attention.analysis import compare, show
    from llmlab.attention.capture import HFAttentionModel, NumpyAttentionModel
    from llmlab.attention.interpretability import attribute_run, lens_run, patch_run
    from llmlab.attention.metrics import head_metrics
    from llmlab.attention.reference import recompute_attention
    from llmlab.attention.toy import train_toy
    from llmlab.numpy_transformer import GPT

    em, directory = _emergence(ctx)
    tok = AutoTokenizer.from_pretrained(directory)
    hf = HFAttentionModel(
        AutoModelForCausalLM.from_pretrained(directory, attn_implementation="eager"), tok, "toy"
    )
    # the induction test runs at periods 12 and 8: a head that looks a fixed distance back cannot pass both
    view = show(hf, REPEATED, out=ctx.out / "show", period=12)
    across = compare(hf, [REPEATED, PLAIN], out=ctx.out / "compare")
    lens = lens_run(hf, CLEAN, out=ctx.out / "lens")
    patched = patch_run(hf, CLEAN, CORRUPTED, ANSWER, WRONG, out=ctx.out / "patch")
    dla = attribute_run(hf, CLEAN, ANSWER, out=ctx.out / "attribute", wrong=WRONG)

    cap = hf.capture_text(REPEATED)
    hand_error = float(np.abs(cap.probs - recompute_attention(hf.model, cap.ids)).max())
    gpt2 = train_toy(out=ctx.out / "gpt2-toy", overrides=["max_steps=20", "n_windows=640"], overwrite=True)
    gpt2_dir = gpt2["model_dir"]
    gpt2_hf = HFAttentionModel(
        AutoModelForCausalLM.from_pretrained(gpt2_dir), AutoTokenizer.from_pretrained(gpt2_dir)
    )
    gpt2_cap = gpt2_hf.capture_text(REPEATED)
    numpy_cap = NumpyAttentionModel(GPT.from_pretrained(gpt2_dir, dtype="float64"), tok).capture_ids(
        gpt2_cap.ids
    )
    numpy_error = float(np.abs(numpy_cap.probs - gpt2_cap.probs).max())
    metrics = head_metrics(cap.probs)
    units = [metrics[k] for k in SCORES_IN_UNIT if k in metrics]
    in_range = (
        all(((v >= -1e-6) & (v <= 1 + 1e-6)).all() for v in units)
        and ((metrics["distance"] >= 0) & (metrics["distance"] <= cap.seq_len - 1)).all()
        and (metrics["entropy"] >= -1e-9).all()
    )
    page = (ctx.out / "show" / "attention.html").read_text(encoding="utf-8")
    ind, prev = em["induction_head"], em["previous_token_head"]
    checks = {
        "induction_head_formed": em["formed_at_step"] is not None
        and all(s["formed_at_step"] is not None for s in em.get("all_seeds", [em])),
        "ablating_it_costs_the_copy": em["all_induction_heads_ablated"]["second_copy_loss"]
        > em["copy_losses"]["second_copy_loss"] + 0.5,
        "lens_last_layer_equals_logits": lens["last_layer_equals_model_logits_to"] < 1e-4,
        "patching_everything_restores_clean": abs(
            patched["everything_patched_logit_diff"] - patched["clean_logit_diff"]
        )
        < 1e-4,
        "attributions_sum_to_the_logit": abs(dla["sum_of_terms"] - dla["logit"]) < 1e-3,
        "hf_capture_equals_hand_recomputation": hand_error < 1e-5,
        "numpy_capture_equals_hf": numpy_error < 1e-5,
        "rows_sum_to_one_and_causal": view["max_row_sum_error"] < 1e-5 and view["max_future_weight"] == 0.0,
        "metrics_in_range": bool(in_range),
        "html_self_contained": "http" not in page.lower(),
        "pictures_written": all((ctx.out / "show" / p).exists() for p in view["pictures"]),
    }
    formed = em["formed_at_step"]
    seeds = em.get("all_seeds", [em])
    top = patched["top_head"]
    copy, ablated = em["copy_losses"], em["all_induction_heads_ablated"]
    return {
        "checks": checks,
        "headline": (
            f"attention-only toy, {len(seeds)} seed(s), {em['steps']} steps: induction head "
            f"L{ind['layer']}H{ind['head']} {ind['score']:.2f} (passed 0.5 at step "
            f"{formed if formed is not None else 'never'}), previous-token L0H{prev['head']} "
            f"{prev['score']:.2f}, K-composition {prev['k_composition']:.2f}; ICL score "
            f"{em['icl_before']:.2f} -> {em['icl_after']:.2f}; second copy "
            f"{copy['second_copy_loss']:.2f} nats, "
            f"{ablated['second_copy_loss']:.2f} with the induction head(s) ablated (first copy "
            f"{copy['first_copy_loss']:.2f}); patching: L{top['layer']}H{top['head']} restores "
            f"{top['restored']:.0%} of the copy"
        ),
        "pictures": [
            f"emergence/{p}"
            for p in ("emergence.png", "emergence_seeds.png")
            if (ctx.out / "emergence" / p).exists()
        ]
        + [f"emergence/seed_{s['seed']}/emergence.png" for s in em.get("all_seeds", [])]
        + [f"show/{p}" for p in view["pictures"] if p.endswith(".png")]
        + [f"compare/{p}" for p in across["pictures"]]
        + [
            "lens/lens.png",
            "patch/patch_heads.png",
            "patch/patch_positions.png",
            "attribute/attribution.png",
        ],
        "html": "show/attention.html",
        "model": {"name": "2-layer attention-only toy trained here", "params": em["params"]},
        "steps": em["steps"],
        "formed_at_step": formed,
        "formed_at_steps": [s["formed_at_step"] for s in seeds],
        "induction_head": ind,
        "previous_token_head": prev,
        "icl_before": em["icl_before"],
        "icl_after": em["icl_after"],
        "copy_losses": em["copy_losses"],
        "induction_head_ablated": em["induction_head_ablated"],
        "all_induction_heads_ablated": em["all_induction_heads_ablated"],
        "patching_top_head": top,
        "hand_recomputation_max_error": hand_error,
        "numpy_vs_hf_max_error": numpy_error,
        "best_induction_head": view["best_induction_head"],
        "best_previous_token_head": view["best_previous_token_head"],
        "kinds": view["kinds"],
        "largest_changes_repeated_vs_plain": across["changes"][0]["largest"],
    }
