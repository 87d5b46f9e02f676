"""`llmlab finetune ...`: fine-tune a GPT-2 on a domain corpus with LoRA (PEFT or llmlab's own) or fully.

    llmlab finetune train --model gpt2 --corpus python-docs --method lora --out runs/finetune/lora
    llmlab finetune train --model tiny --method lora-scratch --preset tiny      # offline: a GPT-2 trained here
    llmlab finetune compare --model tiny --preset tiny --out runs/finetune/compare
    llmlab finetune parity                                                      # llmlab's LoRA vs PEFT's
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
          overwrite: bool = typer.Option(False, "--overwrite", help="replace the run already in the run folder"),
          as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Fine-tune once: val loss/perplexity before and after, a sample before and after, model/ and adapter/."""
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

    table = Table(title=f"{summary['corpus']}, {summary['steps']} steps from {summary['model']}", show_lines=True)
    for col in ("method", "val loss before -> after", "val ppl after", "trainable", "seconds", "sample after"):
        table.add_column(col, overflow="fold")
    for method, r in summary["methods"].items():
        table.add_row(method, f"{r['val_loss_before']:.3f} -> {r['val_loss_after']:.3f}", f"{r['val_ppl_after']:.1f}",
                      f"{r['trainable_params']:,} ({r['trainable_share']:.2%})", f"{r['train_seconds']:.1f}",
                      repr(summary["prompt"] + r["sample_after"]))
    console.print(table)


@app.command()
def parity(model: str = typer.Option(None, "--model", help="an HF model directory (default: a tiny random GPT-2)"),
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


def register(root: typer.Typer) -> None:
    """Plug `llmlab finetune ...` into the root command."""
    root.add_typer(app, name="finetune")


if __name__ == "__main__":   # `python -m llmlab.finetune.cli ...` on a machine without the root CLI installed
    app()
