"""`llmlab finetune ...`: fine-tune a GPT-2 on a domain corpus with LoRA (PEFT or llmlab's own) or fully.

    llmlab finetune train --model gpt2 --corpus python-docs --method lora --out runs/finetune/lora
    llmlab finetune train --model tiny --method lora-scratch --preset tiny      # offline: a GPT-2 trained
    here llmlab finetune compare --model tiny --preset tiny --out runs/finetune/compare
    llmlab finetune parity                                                      # llmlab's LoRA vs PEFT's
    llmlab finetune sft --model tiny --data toy          # post-training: chat SFT, then DPO / GRPO on model/
    llmlab finetune dpo --model runs/finetune/sft/model;  llmlab finetune grpo --model runs/finetune/sft/model
    llmlab finetune demo --seeds 0,1,2                   # SFT, SFT+DPO, SFT+GRPO on held-out problems
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Fine-tune GPT-2 on a domain corpus: PEFT LoRA, full fine-tune, LoRA from scratch.",
                  no_args_is_help=True)

MODEL_HELP = "gpt2 (Hub, needs a network), an HF model directory, or tiny (a small GPT-2 trained here)"
CORPUS_HELP = "python-docs, python-stdlib, tinyshakespeare, a file or folder, hf:NAME"
PRESET_HELP = "tiny, cpu or gpu"


@app.command()
def train(model: str = typer.Option("gpt2", "--model", help=MODEL_HELP),
          corpus: str = typer.Option("python-docs", "--corpus", help=CORPUS_HELP),
          method: str = typer.Option("lora", "--method", help="lora (PEFT + HF Trainer), full, lora-scratch"),
          out: Path = typer.Option(None, "--out", help="run folder (default runs/finetune/<method>)"),
          preset: str = typer.Option("cpu", "--preset", help=PRESET_HELP),
          overrides: list[str] = typer.Option(None, "--set", help="key=value, e.g. r=16 or lr_lora=1e-3"),
          max_steps: int = typer.Option(None, "--max-steps", help="optimizer steps"),
          overwrite: bool = typer.Option(False, "--overwrite",
                                         help="replace the run already in the run folder"),
          as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Fine-tune once: val loss/perplexity before and after, a sample before and after, model/ and
    adapter/."""
    from llmlab.console import print_summary
    from llmlab.finetune.presets import resolve
    from llmlab.finetune.run import finetune

    cfg = resolve(preset, overrides, method=method, max_steps=max_steps)
    summary = finetune(cfg, model, corpus, out, overwrite=overwrite)
    print_summary(summary, as_json, title=f"finetune {method} on {corpus}")


@app.command()
def compare(model: str = typer.Option("gpt2", "--model", help=MODEL_HELP),
            corpus: str = typer.Option("python-docs", "--corpus", help=CORPUS_HELP),
            out: Path = typer.Option(None, "--out", help="folder for the three runs and methods.png"),
            preset: str = typer.Option("cpu", "--preset", help=PRESET_HELP),
            methods: str = typer.Option("lora,full,lora-scratch", "--methods"),
            overrides: list[str] = typer.Option(None, "--set", help="key=value for every method"),
            max_steps: int = typer.Option(None, "--max-steps"),
            overwrite: bool = typer.Option(False, "--overwrite", help="replace the methods' earlier runs"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """The methods side by side on one base model and one corpus: losses, parameters, time, samples."""
    from llmlab.console import print_summary
    from llmlab.finetune.compare import compare_methods

    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    summary = compare_methods(model, corpus, out, preset, overrides, chosen, max_steps, overwrite=overwrite)
    if as_json:
        print_summary(summary, True)
        return
    _print_methods(summary)


def _print_methods(summary: dict) -> None:
    from rich.table import Table

    from llmlab.console import console

    table = Table(title=f"{summary['corpus']}, {summary['steps']} steps from {summary['model']}",
                  show_lines=True)
    for col in ("method", "val loss before -> after", "val ppl after", "trainable", "seconds",
                "sample after"):
        table.add_column(col, overflow="fold")
    for method, r in summary["methods"].items():
        table.add_row(method, f"{r['val_loss_before']:.3f} -> {r['val_loss_after']:.3f}",
                      f"{r['val_ppl_after']:.1f}",
                      f"{r['trainable_params']:,} ({r['trainable_share']:.2%})", f"{r['train_seconds']:.1f}",
                      repr(summary["prompt"] + r["sample_after"]))
    console.print(table)


@app.command()
def parity(model: str = typer.Option(None, "--model",
                                     help="an HF model directory (default: a tiny random GPT-2)"),
           targets: str = typer.Option("c_attn,c_proj,c_fc", "--targets"),
           r: int = typer.Option(4, "--r"), alpha: float = typer.Option(8.0, "--alpha"),
           dropout: float = typer.Option(0.1, "--dropout"), steps: int = typer.Option(5, "--steps"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """llmlab's LoRALinear against PEFT: forward, gradients of A and B, merged weights, N training steps."""
    import torch

    from llmlab.console import print_summary
    from llmlab.errors import LabError
    from llmlab.finetune.parity import lora_peft_parity

    if model:
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(model)
    else:
        from transformers import GPT2Config, GPT2LMHeadModel

        torch.manual_seed(0)
        base = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=128, n_positions=64))
    report = lora_peft_parity(base, [t.strip() for t in targets.split(",")], r, alpha, dropout, steps=steps)
    print_summary({"passed": report["passed"], "layers": report["layers"], **report["max_abs_diff"]}, as_json,
                  title="LoRA: llmlab vs PEFT (max |difference|)")
    if not report["passed"]:
        raise LabError("llmlab's LoRA differs from PEFT's beyond the tolerances " + str(report["tolerance"]),
                       hint="see the differences above")


POST_MODEL_HELP = ("tiny (a fresh tiny GPT, sft on --data toy), an HF model directory (a run's model/), "
                   "or a Hub name")
OVERWRITE_HELP = "replace the run already in the run folder"
POST_PRESET_HELP = "toy (offline, seconds), cpu (GPT-2 small) or gpu"


# the options sft, dpo and grpo share (each command keeps its own --model, --data, --out and --set help)
POST_PRESET = typer.Option("toy", "--preset", help=POST_PRESET_HELP)
CHAT_TEMPLATE = typer.Option(None, "--chat-template", help="a Jinja chat template file")
POST_METHOD = typer.Option(None, "--method", help="full or lora-scratch")
POST_STEPS = typer.Option(None, "--max-steps", help="optimizer steps")
POST_SEED = typer.Option(None, "--seed")
POST_OVERWRITE = typer.Option(False, "--overwrite", help=OVERWRITE_HELP)
POST_JSON = typer.Option(False, "--json", help="print the summary as JSON")


def _post_stage(stage: str, model: str, data: str, out: Path | None, preset: str, overrides: list[str] | None,
                chat_template: Path | None, method: str | None, max_steps: int | None, seed: int | None,
                overwrite: bool, as_json: bool, reward: str = "exact") -> None:
    from llmlab.console import print_summary
    from llmlab.finetune.posttrain_run import posttrain

    summary = posttrain(stage, model, data, out, preset, overrides, chat_template=chat_template,
                        reward=reward, overwrite=overwrite, method=method, max_steps=max_steps, seed=seed)
    print_summary(summary, as_json, title=f"finetune {stage} on {data}")


@app.command()
def sft(model: str = typer.Option("tiny", "--model", help=POST_MODEL_HELP),
        data: str = typer.Option("toy", "--data", help="toy, a .jsonl of {messages}, or hf:NAME[:split]"),
        out: Path = typer.Option(None, "--out", help="run folder (default runs/finetune/sft)"),
        preset: str = POST_PRESET,
        overrides: list[str] = typer.Option(None, "--set", help="key=value, e.g. lr=1e-4 or max_length=256"),
        chat_template: Path = CHAT_TEMPLATE,
        method: str = POST_METHOD,
        max_steps: int = POST_STEPS,
        seed: int = POST_SEED,
        overwrite: bool = POST_OVERWRITE,
        as_json: bool = POST_JSON) -> None:
    """Chat SFT: the model's chat template, the loss on the assistant turns only; model/ at the end."""
    _post_stage("sft", model, data, out, preset, overrides, chat_template, method, max_steps, seed, overwrite,
                as_json)


@app.command()
def dpo(model: str = typer.Option(..., "--model", help="the SFT model: an HF model directory or a Hub name"),
        data: str = typer.Option("toy", "--data", help="toy, a .jsonl of {prompt, chosen, rejected}, hf:N"),
        out: Path = typer.Option(None, "--out", help="run folder (default runs/finetune/dpo)"),
        preset: str = POST_PRESET,
        overrides: list[str] = typer.Option(None, "--set", help="key=value, e.g. beta=0.1 or lr=5e-7"),
        chat_template: Path = CHAT_TEMPLATE,
        method: str = POST_METHOD,
        max_steps: int = POST_STEPS,
        seed: int = POST_SEED,
        overwrite: bool = POST_OVERWRITE,
        as_json: bool = POST_JSON) -> None:
    """DPO on (prompt, chosen, rejected) pairs against the starting model as reference; model/ at the end."""
    _post_stage("dpo", model, data, out, preset, overrides, chat_template, method, max_steps, seed, overwrite,
                as_json)


@app.command()
def grpo(model: str = typer.Option(..., "--model", help="the SFT model: an HF model directory or a Hub name"),
         data: str = typer.Option("toy", "--data", help="toy, a .jsonl of {prompt, answer}, hf:NAME[:split]"),
         reward: str = typer.Option("exact", "--reward", help="exact (the chain task's) or last-number"),
         out: Path = typer.Option(None, "--out", help="run folder (default runs/finetune/grpo)"),
         preset: str = POST_PRESET,
         overrides: list[str] = typer.Option(None, "--set", help="key=value, e.g. kl_beta=0.04"),
         chat_template: Path = CHAT_TEMPLATE,
         method: str = POST_METHOD,
         max_steps: int = POST_STEPS,
         seed: int = POST_SEED,
         overwrite: bool = POST_OVERWRITE,
         as_json: bool = POST_JSON) -> None:
    """GRPO: groups of sampled completions, rewards from a verifier, the clipped objective, a KL penalty."""
    _post_stage("grpo", model, data, out, preset, overrides, chat_template, method, max_steps, seed,
                overwrite, as_json, reward=reward)


@app.command()
def demo(seeds: str = typer.Option("0,1,2", "--seeds", help="comma-separated seeds"),
         out: Path = typer.Option(None, "--out", help="run folder (default runs/finetune/posttrain)"),
         preset: str = typer.Option("toy", "--preset", help=POST_PRESET_HELP),
         overrides: list[str] = typer.Option(None, "--set", help="key=value: all stages; dpo.k=v: one"),
         overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
         as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """SFT -> DPO and SFT -> GRPO on the offline chain task per seed: held-out accuracy, Wilson intervals."""
    from llmlab.console import print_summary
    from llmlab.errors import LabError
    from llmlab.finetune.posttrain_demo import posttrain_demo

    try:
        chosen = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise LabError(f"--seeds {seeds!r} must be integers separated by commas",
                       hint="--seeds 0,1,2") from None
    summary = posttrain_demo(out, chosen, preset, overrides, overwrite=overwrite)
    print_summary(summary if as_json else {"headline": summary["headline"], **summary["checks"]}, as_json,
                  title="post-training on the chain task")


def register(root: typer.Typer) -> None:
    """Plug `llmlab finetune ...` into the root command."""
    root.add_typer(app, name="finetune")


if __name__ == "__main__":   # `python -m llmlab.finetune.cli ...` on a machine without the root CLI installed
    app()
