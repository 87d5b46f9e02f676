"""`llmlab attention ...`: capture, measure and draw the attention of any HF causal LM or the NumPy GPT.

    llmlab attention show --model gpt2 --text "The cat sat on the mat. The cat" --out runs/attention/cat
    llmlab attention heads --model gpt2 --json
    llmlab attention compare --model gpt2 --text "def f(x): return x" --text "Once upon a time"
    llmlab attention train-toy --out runs/attention/toy        # an offline model to look at (--model DIR)
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Attention heads: hooks on any HF causal LM or the NumPy GPT, pictures and per-head metrics.",
                  no_args_is_help=True)

MODEL_HELP = "a Hub name (gpt2), an HF model directory, or numpy:DIR for the NumPy GPT"
DEFAULT_TEXT = "When Mary and John went to the store, John gave a drink to Mary. When Mary and John went"
TEXT_HELP = "the text to look at (default: an indirect-object sentence, cut to fit the model's context)"


def _default_text(model) -> str:
    """DEFAULT_TEXT cut at a word boundary until it fits the model's context, so the default always runs
    (the sentence is 88 characters; the toy character model has 64 positions)."""
    from llmlab.errors import LabError

    words = DEFAULT_TEXT.split(" ")
    if model.tokenizer is None:
        return DEFAULT_TEXT             # nothing to measure with; encoding will say why
    while len(words) > 1:
        try:
            model.encode(" ".join(words))
            break
        except LabError:                # too long for the context
            words.pop()
    return " ".join(words)


@app.command()
def show(model: str = typer.Option(..., "--model", help=MODEL_HELP),
         text: str = typer.Option(None, "--text", help=TEXT_HELP),
         out: Path = typer.Option(None, "--out", help="run folder (default runs/attention/<name>)"),
         name: str = typer.Option("show", "--name"),
         token: int = typer.Option(-1, "--token", help="query position for the model view (-1: the last token)"),
         period: int = typer.Option(20, "--period", help="length of the random sequence in the induction test"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """Head view, model view, metric heatmaps, layer profile and an interactive HTML page for one text."""
    from llmlab.attention.analysis import show as run_show
    from llmlab.attention.capture import load_attention_model
    from llmlab.console import print_summary
    from llmlab.runs import check_name

    check_name(name)                  # before the model loads
    loaded = load_attention_model(model)
    summary = run_show(loaded, _default_text(loaded) if text is None else text, out, name, token, period)
    print_summary(summary, as_json, title=f"attention of {model}")


@app.command()
def heads(model: str = typer.Option(..., "--model", help=MODEL_HELP),
          text: str = typer.Option(None, "--text", help=TEXT_HELP),
          period: int = typer.Option(20, "--period", help="length of the random sequence in the induction test"),
          seed: int = typer.Option(0, "--seed"),
          as_json: bool = typer.Option(False, "--json", help="print every head's metrics as JSON")) -> None:
    """A table of every head: entropy, distance, sink, previous-token, self, induction, duplicate, and its kind."""
    import json

    from rich.table import Table

    from llmlab.attention.analysis import head_report
    from llmlab.attention.capture import load_attention_model
    from llmlab.attention.metrics import metrics_table
    from llmlab.console import console

    loaded = load_attention_model(model)
    report = head_report(loaded, _default_text(loaded) if text is None else text, period, seed)
    rows = metrics_table(report["metrics"], report["labels"])
    if as_json:
        print(json.dumps({"model": model, "heads": rows}, indent=1))
        return
    short = {"layer": "L", "head": "H", "entropy": "ent", "entropy_norm": "ent/max", "distance": "dist",
             "previous_token": "prev", "induction": "ind", "duplicate": "dup"}
    table = Table(title=f"heads of {model} (induction: random tokens repeated, period {period})")
    for key in rows[0]:
        table.add_column(short.get(key, key), justify="left" if key == "kind" else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(table)


@app.command()
def compare(model: str = typer.Option(..., "--model", help=MODEL_HELP),
            texts: list[str] = typer.Option(..., "--text", help="two or more texts (repeat --text)"),
            out: Path = typer.Option(None, "--out"),
            name: str = typer.Option("compare", "--name"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Per-head metric deltas between texts (heatmaps) and the per-layer profile of each text."""
    from llmlab.attention.analysis import compare as run_compare
    from llmlab.attention.capture import load_attention_model
    from llmlab.console import print_summary
    from llmlab.runs import check_name

    check_name(name)                  # before the model loads
    summary = run_compare(load_attention_model(model), texts, out, name)
    print_summary(summary, as_json, title=f"attention of {model} across inputs")


@app.command("train-toy")
def train_toy_cmd(out: Path = typer.Option(None, "--out", help="run folder (default runs/attention/toy)"),
                  overrides: list[str] = typer.Option(None, "--set", help="key=value (ToyPreset field)"),
                  overwrite: bool = typer.Option(False, "--overwrite", help="replace the run already in the run folder"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Train the 2-layer toy model on repeated random strings (an induction head forms after a few thousand steps)."""
    from llmlab.attention.toy import train_toy
    from llmlab.console import print_summary

    summary = train_toy(out=out, overrides=overrides, overwrite=overwrite)
    keys = ("steps", "final_val_loss", "uniform_loss", "first_copy_loss", "second_copy_loss", "copy_period", "model_dir")
    print_summary({k: summary[k] for k in keys if k in summary},
                  as_json, title="toy model")


def register(root: typer.Typer) -> None:
    """Plug `llmlab attention ...` into the root command."""
    root.add_typer(app, name="attention")
