"""`llmlab pretrain ...`: train a GPT on token shards, measure training throughput, list the presets.

    llmlab pretrain train --preset gpt2-tiny --data data/stdlib --out runs/pretrain/tiny --max-steps 300
    torchrun --nproc_per_node 8 -m llmlab.cli pretrain train --preset gpt2-124m --data data/owt --out
    runs/124m llmlab pretrain bench --preset gpt2-124m --batch-size 32 --json
"""

from __future__ import annotations

import typer

from llmlab.console import console, print_summary

app = typer.Typer(help="Pretrain a GPT (gpt2-124m, gpt2-tiny, llama-124m, llama-tiny) on token shards.",
                  no_args_is_help=True)


@app.command("train")
def train_command(
        preset: str = typer.Option("gpt2-tiny", "--preset",
                                   help="gpt2-124m | gpt2-tiny | llama-124m | llama-tiny"),
        data: str = typer.Option(..., "--data", help="token shards made by `llmlab data prepare`"),
        out: str = typer.Option(None, "--out", help="run folder (default runs/pretrain/<preset>)"),
        max_steps: int = typer.Option(None, "--max-steps", help="optimizer steps (overrides the preset)"),
        max_time: float = typer.Option(None, "--max-time",
                                       help="stop after this many seconds, then eval and save"),
        seed: int = typer.Option(None, "--seed", help="seed for weights and batches"),
        resume: bool = typer.Option(False, "--resume",
                                    help="continue from the run folder's checkpoint, exactly"),
        overwrite: bool = typer.Option(False, "--overwrite",
                                       help="replace the run already in the run folder"),
        overrides: list[str] = typer.Option(None, "--set",
                                            help="key=value for the model or the training config"),
        as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Train with the shared loop; under torchrun / accelerate launch every process runs this same command."""
    from llmlab.pretrain.train import pretrain
    from llmlab.runs import resume_command

    extra = list(overrides or [])
    extra += [f"max_steps={max_steps}"] if max_steps is not None else []
    extra += [f"max_time={max_time}"] if max_time is not None else []
    extra += [f"seed={seed}"] if seed is not None else []
    summary = pretrain(preset, data, out, extra, resume=resume, overwrite=overwrite,
                       resume_command=resume_command())
    if "pictures" in summary:   # only the main process prints
        summary.pop("samples", None) if not as_json else None
        print_summary(summary, as_json=as_json, title=f"pretrain {preset}")


@app.command("bench")
def bench_command(
        preset: str = typer.Option("gpt2-124m", "--preset"),
        batch_size: int = typer.Option(None, "--batch-size", help="micro-batch rows (default: the preset's)"),
        steps: int = typer.Option(40, "--steps", help="optimizer steps in all"),
        warmup: int = typer.Option(10, "--warmup",
                                   help="steps left out of the timing (compilation happens here)"),
        vocab_size: int = typer.Option(50257, "--vocab-size",
                                       help="tokenizer vocabulary (padded to a multiple of 64)"),
        overrides: list[str] = typer.Option(None, "--set",
                                            help="key=value, e.g. compile=false or block_size=512"),
        as_json: bool = typer.Option(False, "--json", help="print the result as JSON")) -> None:
    """Tokens/s and MFU of the training loop on synthetic tokens (CPU too: try --preset gpt2-tiny)."""
    from llmlab.pretrain.bench import bench

    extra = list(overrides or []) + ([f"batch_size={batch_size}"] if batch_size else [])
    print_summary(bench(preset, extra, steps=steps, warmup=warmup, vocab_size=vocab_size), as_json=as_json,
                  title=f"bench {preset}")


@app.command("presets")
def presets_command() -> None:
    """The presets, their shapes and their training recipes."""
    from rich.table import Table

    from llmlab.pretrain.presets import PRESETS

    table = Table(title="pretraining presets")
    for col in ("preset", "arch", "layers x width", "context", "tokens/step", "steps", "what for"):
        table.add_column(col)
    for p in PRESETS.values():
        m, t = p.model, p.train
        table.add_row(p.name, m.arch, f"{m.n_layer} x {m.n_embd}", str(m.block_size),
                      f"{t.batch_size * t.grad_accum * m.block_size:,}", str(t.max_steps), p.description)
    console.print(table)


def register(root: typer.Typer) -> None:
    """Plug `llmlab pretrain ...` into the root command."""
    root.add_typer(app, name="pretrain")
