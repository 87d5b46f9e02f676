"""`llmlab data ...`: look at corpora before training on them."""

from __future__ import annotations

import typer

from llmlab.console import console, print_summary

app = typer.Typer(help="Corpora: python-docs, python-stdlib, tinyshakespeare, hf:<dataset>, or a path.",
                  no_args_is_help=True)


@app.command("info")
def info(corpus: str = typer.Argument(..., help="python-docs | python-stdlib | tinyshakespeare | hf:NAME[:SPLIT] | PATH"),
         as_json: bool = typer.Option(False, "--json", help="print the figures as JSON")) -> None:
    """Show documents, bytes, characters, the train/val split and a sample."""
    from llmlab.data import load_corpus

    figures = load_corpus(corpus).info()
    if as_json:
        print_summary(figures, as_json=True)
        return
    sample = figures.pop("sample")
    print_summary(figures, title=f"corpus {corpus}")
    console.print("[bold]sample[/bold]")
    console.print(sample, markup=False, highlight=False)
