"""`llmlab attention ...`: capture, measure and draw the attention of any HF causal LM or the NumPy GPT.

    llmlab attention show --model gpt2 --text "The cat sat on the mat. The cat" --out runs/attention/cat
    llmlab attention heads --model gpt2 --json
    llmlab attention compare --model gpt2 --text "def f(x): return x" --text "Once upon a time"
    llmlab attention train-toy --out runs/attention/toy        # an offline model to look at (--model DIR)
    llmlab attention emergence --seeds 3                      # watch induction heads form (3 seeds)
    llmlab attention lens --model gpt2 --text "The Eiffel Tower is in the city of"
    llmlab attention patch --model gpt2                       # the indirect-object example
    llmlab attention attribute --model gpt2 --answer " Mary" --wrong " John"
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Attention heads: hooks on any HF causal LM or the NumPy GPT, pictures and per-head "
                       "metrics; the logit lens, activation patching and direct logit attribution.",
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
         token: int = typer.Option(-1, "--token", help="query position for the model view (-1: last)"),
         period: int = typer.Option(20, "--period", help="length of the random sequence (induction test)"),
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
          period: int = typer.Option(20, "--period", help="length of the random sequence (induction test)"),
          seed: int = typer.Option(0, "--seed"),
          as_json: bool = typer.Option(False, "--json", help="print every head's metrics as JSON")) -> None:
    """Every head in a table: entropy, distance, sink, previous-token, self, induction, duplicate, kind."""
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
                  overwrite: bool = typer.Option(False, "--overwrite", help="replace the run in the folder"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Train a 2-layer GPT-2 toy on repeated random strings: it learns to copy, through spread heads, without
    growing a clean induction head (`llmlab attention emergence` grows one)."""
    from llmlab.attention.toy import train_toy
    from llmlab.console import print_summary

    summary = train_toy(out=out, overrides=overrides, overwrite=overwrite)
    keys = ("steps", "final_val_loss", "uniform_loss", "first_copy_loss", "second_copy_loss", "copy_period",
            "model_dir")
    print_summary({k: summary[k] for k in keys if k in summary},
                  as_json, title="toy model")


IOI_CLEAN = "When Mary and John went to the store, John gave a drink to"
IOI_CORRUPTED = "When Mary and John went to the store, Mary gave a drink to"


@app.command()
def emergence(out: Path = typer.Option(None, "--out", help="run folder (default runs/attention/emergence)"),
              seeds: int = typer.Option(1, "--seeds", help="seeds 0, 1, ... each in seed_<k>/"),
              overrides: list[str] = typer.Option(None, "--set", help="key=value (InductionPreset field)"),
              overwrite: bool = typer.Option(False, "--overwrite", help="replace the run in the folder"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Train the 2-layer attention-only toy while measuring: the loss, the in-context-learning score, every
    head's induction and previous-token scores and their K-composition, in one picture per seed; then ablate
    the induction head(s). A layer-1 head passes 0.5 after 650-700 steps (20 ms a step on one idle core)."""
    from llmlab.attention.emergence import run_emergence, run_seeds
    from llmlab.console import print_summary
    from llmlab.errors import LabError

    if seeds < 1:
        raise LabError("--seeds must be at least 1", hint="--seeds 3 for the three-seed demonstration")
    if seeds == 1:
        summary = run_emergence(out=out, overrides=overrides, overwrite=overwrite)
    else:
        summary = run_seeds(list(range(seeds)), out=out, overrides=overrides, overwrite=overwrite)
    print_summary(summary, as_json, title="induction heads forming")


@app.command()
def lens(model: str = typer.Option(..., "--model", help=MODEL_HELP),
         text: str = typer.Option("The Eiffel Tower is in the city of Paris", "--text"),
         top: int = typer.Option(5, "--top", help="top tokens kept per layer and position (in lens.json)"),
         out: Path = typer.Option(None, "--out"),
         name: str = typer.Option("lens", "--name"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """Logit lens: the residual stream after each layer read through the final norm and the unembedding.
    Prints the top token per layer at each position; lens.png shows P and rank of the actual next token."""
    from rich.table import Table

    from llmlab.attention.capture import load_attention_model
    from llmlab.attention.interpretability import lens_run
    from llmlab.console import console, print_summary
    from llmlab.runs import check_name

    check_name(name)
    summary = lens_run(load_attention_model(model), text, out, name, top)
    if as_json:
        print_summary(summary, True)
        return
    rows = json.loads((Path(summary["run"]) / "lens.json").read_text(encoding="utf-8"))["rows"]
    positions = sorted({r["position"] for r in rows})
    table = Table(title=f"logit lens of {model}: top token after each layer (* = the actual next token)")
    table.add_column("layer", justify="right")
    for t in positions:
        first = next(r for r in rows if r["position"] == t)
        table.add_column(f"{first['token']}", no_wrap=True)
    for layer in range(summary["layers"]):
        cells = [r for r in rows if r["layer"] == layer]
        table.add_row(str(layer), *(("*" if r["next_rank"] == 0 else "") + r["top"][0] for r in cells))
    console.print(table)
    print_summary({k: v for k, v in summary.items() if k != "top1_by_layer_at_last_position"}, False, "lens")


@app.command()
def patch(model: str = typer.Option(..., "--model", help=MODEL_HELP),
          clean: str = typer.Option(IOI_CLEAN, "--clean", help="the prompt whose behaviour is measured"),
          corrupted: str = typer.Option(IOI_CORRUPTED, "--corrupted", help="same length, one thing changed"),
          answer: str = typer.Option(" Mary", "--answer", help="the clean prompt's answer (one token)"),
          wrong: str = typer.Option(" John", "--wrong", help="the corrupted prompt's answer (one token)"),
          out: Path = typer.Option(None, "--out"),
          name: str = typer.Option("patch", "--name"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Activation patching: copy one component (residual stream, attention or MLP output at a layer and
    position, or one head) from the clean run into the corrupted one and measure how much of
    logit(answer) - logit(wrong) comes back. Default: the indirect-object example on GPT-2."""
    from llmlab.attention.capture import load_attention_model
    from llmlab.attention.interpretability import patch_run
    from llmlab.console import print_summary
    from llmlab.runs import check_name

    check_name(name)
    summary = patch_run(load_attention_model(model), clean, corrupted, answer, wrong, out, name)
    print_summary(summary, as_json, title=f"activation patching on {model}")


@app.command()
def attribute(model: str = typer.Option(..., "--model", help=MODEL_HELP),
              text: str = typer.Option(IOI_CLEAN, "--text"),
              answer: str = typer.Option(" Mary", "--answer", help="the token whose logit is explained"),
              wrong: str = typer.Option(None, "--wrong", help="explain logit(answer) - logit(wrong) instead"),
              position: int = typer.Option(-1, "--position", help="whose prediction (-1: the last)"),
              out: Path = typer.Option(None, "--out"),
              name: str = typer.Option("attribute", "--name"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Direct logit attribution: each head's and MLP's direct contribution to one logit (through the
    unembedding, with the final norm's scale frozen); the contributions sum to the logit."""
    from llmlab.attention.capture import load_attention_model
    from llmlab.attention.interpretability import attribute_run
    from llmlab.console import print_summary
    from llmlab.runs import check_name

    check_name(name)
    summary = attribute_run(load_attention_model(model), text, answer, out, name, wrong, position)
    print_summary(summary, as_json, title=f"direct logit attribution on {model}")


def register(root: typer.Typer) -> None:
    """Plug `llmlab attention ...` into the root command."""
    root.add_typer(app, name="attention")
