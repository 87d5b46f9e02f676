"""`llmlab charlm ...`: train an RNN/LSTM/GRU/Transformer on characters, sample it, compare decoders and
models.

    llmlab charlm train --arch transformer --corpus tinyshakespeare --out runs/charlm/gpt --max-time 120
    llmlab charlm sample --model runs/charlm/gpt --strategy top-p --prompt "ROMEO:"
    llmlab charlm compare-decoding --model runs/charlm/gpt --prompt "ROMEO:"
    llmlab charlm compare-models --corpus python-docs --max-time 60 --out runs/charlm/compare
"""

from __future__ import annotations

from pathlib import Path

import typer

from llmlab.flags import option

app = typer.Typer(help="Character-level language models: RNN, LSTM, GRU and a GPT-style Transformer.",
                  no_args_is_help=True)

ARCH_HELP = "rnn, lstm, gru or transformer"
MODEL_HELP = "a run folder or checkpoint folder written by `llmlab charlm train`"
PRESET_HELP = "tiny, cpu, nanogpt-baby, shakespeare-char or gpu"


@app.command()
def train(arch: str = option("transformer", "--arch", old=["--model"], help=ARCH_HELP),
          corpus: str = typer.Option("tinyshakespeare", "--corpus",
                                     help="python-docs, tinyshakespeare, a file or folder"),
          out: Path = typer.Option(None, "--out", help="run folder (default runs/charlm/<arch>)"),
          preset: str = typer.Option("cpu", "--preset", help=PRESET_HELP),
          max_time: float = typer.Option(None, "--max-time",
                                         help="stop after this many seconds (then eval + save)"),
          max_steps: int = typer.Option(None, "--max-steps", help="optimizer steps"),
          overrides: list[str] = typer.Option(None, "--set", help="key=value (model or training setting)"),
          resume: bool = typer.Option(False, "--resume", help="continue from the run folder's checkpoint"),
          overwrite: bool = typer.Option(False, "--overwrite",
                                         help="replace the run already in the run folder"),
          as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Train one model; writes metrics.jsonl, loss.png, samples, checkpoint/ and best/ into the run folder."""
    from llmlab.charlm.models import ARCHITECTURES
    from llmlab.charlm.presets import resolve
    from llmlab.charlm.train import train_charlm
    from llmlab.console import print_summary
    from llmlab.errors import LabError
    from llmlab.runs import resume_command

    if arch not in ARCHITECTURES:     # also a model folder given to the old --model, before any data loads
        raise LabError(f"unknown architecture {arch!r}",
                       hint=f"--arch takes one of {', '.join(ARCHITECTURES)}; "
                            "to sample a trained model: llmlab charlm sample --model DIR")
    cfg = resolve(arch, preset, overrides, corpus=corpus, max_time=max_time, max_steps=max_steps)
    summary = train_charlm(cfg, out=out, resume=resume, overwrite=overwrite, resume_command=resume_command())
    print_summary(summary, as_json, title=f"charlm {arch} on {corpus}")


@app.command()
def sample(model_dir: Path = option(..., "--model", old=["--model-dir"], help=MODEL_HELP),
           strategy: str = typer.Option("top-p", "--strategy", help="greedy, sample, top-k, top-p or beam"),
           prompt: str = typer.Option("\n", "--prompt"),
           max_new_tokens: int = option(300, "--max-new-tokens", old=["--tokens"],
                                        help="characters to generate"),
           temperature: float = typer.Option(0.8, "--temperature"),
           top_k: int = typer.Option(20, "--top-k"),
           top_p: float = typer.Option(0.9, "--top-p"),
           beams: int = typer.Option(4, "--beams"),
           repetition_penalty: float = typer.Option(1.0, "--repetition-penalty"),
           stop: list[str] = typer.Option(None, "--stop", help="stop before this string (repeatable)"),
           seed: int = typer.Option(0, "--seed"),
           num_samples: int = option(1, "--num-samples", old=["--num"],
                                     help="how many samples (different seeds)")) -> None:
    """Print continuations of a prompt under one decoding strategy."""
    from llmlab.charlm.decoding import decode
    from llmlab.charlm.models import load_charlm
    from llmlab.console import console

    model, tok = load_charlm(model_dir)
    for i in range(num_samples):
        text = decode(model, tok, prompt, strategy, max_new_tokens, temperature, top_k, top_p, beams,
                      seed + i, tuple(stop or ()), repetition_penalty)
        console.rule(f"{strategy} #{i + 1}" if num_samples > 1 else strategy)
        console.print(prompt + text, markup=False, highlight=False)


@app.command("compare-decoding")
def compare_decoding_cmd(model_dir: Path = option(..., "--model", old=["--model-dir"], help=MODEL_HELP),
                         prompt: str = typer.Option("\n", "--prompt"),
                         max_new_tokens: int = option(200, "--max-new-tokens", old=["--tokens"]),
                         seed: int = typer.Option(0, "--seed"),
                         out: Path = typer.Option(None, "--out", help="write summary.json here"),
                         as_json: bool = typer.Option(False, "--json")) -> None:
    """One prompt under greedy, sampling, top-k, top-p and beam: text, distinct-n, rep/16, own perplexity."""
    from llmlab.charlm.decoding import compare_decoding
    from llmlab.charlm.models import load_charlm
    from llmlab.console import print_summary
    from llmlab.runs import RunFolder

    model, tok = load_charlm(model_dir)
    rows = compare_decoding(model, tok, prompt, max_new_tokens, seed)
    summary = {"model_dir": str(model_dir), "prompt": prompt, "tokens": max_new_tokens, "strategies": rows}
    if out:
        RunFolder.create("charlm", out=out).save_summary(summary)
    if as_json:
        print_summary(summary, True)
        return
    _print_decoding(rows)


def _print_decoding(rows) -> None:
    from rich.table import Table

    from llmlab.console import console

    table = Table(title="decoding strategies", show_lines=True)
    for col in ("strategy", "text", "distinct-1/2/3", "rep/16", "own ppl"):
        table.add_column(col, overflow="fold")
    for r in rows:
        ppl = f"{r['perplexity']:.2f}" if r["perplexity"] else "-"
        table.add_row(r["strategy"], r["text"][:300],
                      f"{r['distinct_1']:.2f}/{r['distinct_2']:.2f}/{r['distinct_3']:.2f}",
                      f"{r['rep_16']:.2f}", ppl)
    console.print(table)


@app.command("compare-models")
def compare_models(corpus: str = typer.Option("python-docs", "--corpus"),
                   preset: str = typer.Option("cpu", "--preset", help=PRESET_HELP),
                   max_time: float = typer.Option(60.0, "--max-time", help="seconds per model"),
                   archs: str = option("rnn,lstm,gru,transformer", "--archs", old=["--models"],
                                       help="comma-separated architectures"),
                   overrides: list[str] = typer.Option(None, "--set"),
                   out: Path = typer.Option(None, "--out"),
                   overwrite: bool = typer.Option(False, "--overwrite",
                                                  help="replace an earlier comparison's runs"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Train each architecture for the same wall time on one corpus; one picture of their val losses."""
    from llmlab.charlm.compare import compare_architectures
    from llmlab.console import print_summary

    summary = compare_architectures(corpus, [a.strip() for a in archs.split(",") if a.strip()], preset,
                                    max_time, overrides, out, overwrite=overwrite)
    print_summary(summary, as_json, title=f"architectures on {corpus}")


def register(root: typer.Typer) -> None:
    """Plug `llmlab charlm ...` into the root command."""
    root.add_typer(app, name="charlm")


if __name__ == "__main__":   # lets the GPU machine run `python -m llmlab.charlm.cli ...` without the root CLI
    app()
