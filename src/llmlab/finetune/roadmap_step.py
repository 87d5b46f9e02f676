"""Roadmap step for project 4: a small GPT-2 pretrained on code, fine-tuned on python-docs two ways.

quick (15 s measured at load 2.6 on 2 cores; 45 s at most of the demo's budget): a `gpt2-tiny` base (100 steps
on python-stdlib, capped at 10 s), then 30 steps of llmlab's LoRA and of PEFT's LoRA (HF Trainer) on
python-docs; llmlab's LoRA checked equal to PEFT's; the merged model directory loaded back and sampled.
full: a 300-step base and all three methods (lora, full, lora-scratch) for 200 steps each.
Post-training row (both modes, one seed): a tiny GPT trained by chat SFT on the CoT chain task, then DPO and
GRPO copies of it; held-out accuracy of the three. quick keeps it to ~10 s (so it is near chance and shows
the pipeline, not the gain); full runs the toy preset as `llmlab finetune demo` does, for one seed; the
3-seed demonstration is `llmlab finetune demo` (docs/results.md).
"""

from __future__ import annotations

from llmlab.roadmap.runner import StepContext


def run(ctx: StepContext) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmlab.finetune.base import tiny_base
    from llmlab.finetune.compare import compare_methods
    from llmlab.finetune.parity import lora_peft_parity
    from llmlab.finetune.run import cpu_threads
    from llmlab.runs import RunFolder
    from llmlab.training import count_params

    steps, base_steps, base_cap = ((5, 5, 10.0) if ctx.smoke else (30, 100, 10.0) if ctx.quick
                                   else (200, 300, 60.0))
    methods = ("lora-scratch", "lora") if ctx.quick else ("lora", "full", "lora-scratch")
    with cpu_threads(1):    # the tiny preset's setting, for the base model's pretraining too
        base_dir = tiny_base(ctx.out / "base", seconds=base_cap, steps=base_steps, seed=ctx.seed)
    summary = compare_methods(str(base_dir), "python-docs", ctx.out, "tiny", [f"seed={ctx.seed}"], methods,
                              max_steps=steps, overwrite=True)   # the roadmap replaces its own runs each time
    results = summary["methods"]

    # llmlab's LoRA = PEFT's on the base model itself: forward, grads of A and B, merges, 5 training steps
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    parity = lora_peft_parity(base, ["c_attn", "c_proj", "c_fc"], r=4, alpha=8.0, dropout=0.1, steps=5,
                              seed=ctx.seed)

    merged = ctx.out / "lora" / "model"
    tok = AutoTokenizer.from_pretrained(merged)
    model = AutoModelForCausalLM.from_pretrained(merged).eval()
    ids = tok(summary["prompt"], return_tensors="pt").input_ids
    with torch.no_grad():
        generated = model.generate(ids, max_new_tokens=16, do_sample=False, pad_token_id=tok.eos_token_id)

    checks = {f"{m}_val_loss_fell": r["val_loss_after"] < r["val_loss_before"] for m, r in results.items()}
    checks["scratch_lora_equals_peft_forward_and_grads"] = all(
        parity["checks"][k] for k in ("forward", "grad_A", "grad_B", "losses", "merged_weights"))
    checks["scratch_and_peft_lora_agree_after_training"] = abs(
        results["lora"]["val_loss_after"] - results["lora-scratch"]["val_loss_after"]) < 0.05
    checks["merged_model_loads_with_automodel_and_generates"] = generated.shape[1] == ids.shape[1] + 16
    post = _posttrain(ctx)
    # the base's own loop writes no summary.json: its last logged step is how far it trained
    base_steps_done = RunFolder(base_dir.parent).metrics()[-1]["step"]
    post_line = "; chain task, held-out exact match " + " / ".join(
        f"{stage} {r['accuracy']:.0%}" for stage, r in post.items())
    checks["posttrain_sft_dpo_grpo_ran_and_saved"] = all(
        (ctx.out / "posttrain" / stage / "model" / "config.json").exists() for stage in post)
    loss = " · ".join(f"{m} {r['val_loss_before']:.2f}->{r['val_loss_after']:.2f}"
                      for m, r in results.items())
    diff = max(parity["max_abs_diff"][k] for k in ("forward", "grad_A", "grad_B", "losses"))
    return {
        "checks": checks,
        "headline": f"python-docs val loss in {steps} steps: {loss}; LoRA trains "
                    f"{results['lora']['trainable_share']:.1%} of the weights; llmlab LoRA vs PEFT max "
                    "|diff| "
                    f"{diff:.1e}" + post_line,
        "pictures": ["methods.png", "lora/loss.png", "lora-scratch/loss.png"],
        # the row says "GPT-2": name the base actually fine-tuned, a small GPT-2-shaped model pretrained here
        "model": {"name": f"gpt2-tiny base pretrained here for {base_steps_done} steps on "
                          "python-stdlib", "params": count_params(base)},
        "methods": results,
        "parity": {"max_abs_diff": parity["max_abs_diff"], "tolerance": parity["tolerance"],
                   "layers": parity["layers"]},
        "merged_sample": tok.decode(generated[0]),
        "posttrain": post,
    }


def _posttrain(ctx: StepContext) -> dict:
    """SFT -> DPO / GRPO on the chain task, one seed, a small budget: {stage: accuracy, interval, steps}."""
    from llmlab.finetune.posttrain_demo import one_seed, split_overrides

    # full: the toy preset as `llmlab finetune demo` runs it (SFT to convergence), one seed
    sft, dpo, grpo = (5, 2, 2) if ctx.smoke else (150, 20, 15)
    small = ["problems=1000", "eval_problems=50", f"sft.max_steps={sft}", f"dpo.max_steps={dpo}",
             f"grpo.max_steps={grpo}", "grpo.batch_size=8"]
    overrides = split_overrides(small if ctx.quick or ctx.smoke else [])
    result = one_seed(ctx.seed, "toy", overrides, ctx.out / "posttrain",
                      dpo_pairs=200 if ctx.quick or ctx.smoke else 1000, stages=("sft", "dpo", "grpo"))
    return {stage: {k: r[k] for k in ("accuracy", "ci95", "total", "steps", "train_seconds")}
            for stage, r in result["stages"].items()}
