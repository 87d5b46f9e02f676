"""`llmlab data ...`: look at corpora before training on them."""

from __future__ import annotations

import typer

from llmlab.console import console, print_summary

app = typer.Typer(help="Corpora: python-docs, python-stdlib, tinyshakespeare, hf:<dataset>, or a path.",
                  no_args_is_help=True)


@app.command("info")
def info(corpus: str = typer.Argument(...,
                                      help="python-docs | python-stdlib | tinyshakespeare | hf:NAME[:SPLIT] "
                                           "| PATH"),
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


@app.command("prepare")
def prepare_command(
        corpus: str = typer.Option(..., "--corpus",
                                   help="python-stdlib | python-docs | hf:NAME[:SPLIT] | PATH"),
        tokenizer: str = typer.Option(..., "--tokenizer",
                                      help="an llmlab tokenizer folder, or a Hub tokenizer (gpt2)"),
        out: str = typer.Option(..., "--out",
                                help="folder for the shards, the tokenizer copy and summary.json"),
        max_documents: int = typer.Option(None, "--max-documents",
                                          help="read at most N documents (streams hf:)"),
        workers: int = typer.Option(0, "--workers", help="tokenising processes (0: one per core)"),
        overrides: list[str] = typer.Option(None, "--set", help="key=value for PrepareConfig or CleanConfig"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    """Clean, de-duplicate, split and tokenise a corpus into token shards, reporting what each stage
    removed."""
    from llmlab.data.prepare import prepare, removed_table, split_overrides

    cfg, clean = split_overrides(list(overrides or []) + [f"workers={workers}"]
                                 + ([f"max_documents={max_documents}"] if max_documents else []))
    report = prepare(corpus, tokenizer, out, cfg, clean)
    if as_json:
        print_summary(report, as_json=True)
        return
    from rich.table import Table

    table = Table(title=f"{corpus}: what each stage removed")
    for col in ("stage", "documents", "MB"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    table.add_row("input", str(report["input"]["documents"]), f"{report['input']['bytes'] / 1e6:.2f}")
    for stage, docs, size in removed_table(report):
        table.add_row(f"- {stage}", str(docs), f"{size / 1e6:.2f}")
    table.add_row("kept", str(report["kept"]["documents"]), f"{report['kept']['bytes'] / 1e6:.2f}")
    console.print(table)
    console.print(f"tokens: train {report['tokens']['train']:,}, val {report['tokens']['val']:,} "
                  f"({report['bytes_per_token']} bytes/token) in {report['seconds']['total']}s -> {out}")


def register(root: typer.Typer) -> None:
    """Plug `llmlab data ...` into the root command."""
    root.add_typer(app, name="data")
