"""`llmlab tokenizer ...`: train a byte-level BPE, encode, decode, look at tokens, compare with HF/tiktoken.

    llmlab tokenizer train --corpus python-docs --vocab-size 4096 --out runs/tokenizer/docs
    llmlab tokenizer viz --tokenizer runs/tokenizer/docs "def f(x): return x"
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import typer

from llmlab.console import console, print_summary
from llmlab.errors import LabError

app = typer.Typer(help="Byte-level BPE: train, encode, decode, viz, compare (with HF tokenizers and "
                       "tiktoken).",
                  no_args_is_help=True)

EOT = "<|endoftext|>"
HTML_SAMPLE_CHARS = 3000       # held-out text shown in tokens.html
CURVE_SAMPLE_CHARS = 300_000   # held-out text encoded once per point of the bytes-per-token curve


@dataclass
class TrainConfig:
    corpus: str = "python-docs"
    vocab_size: int = 4096
    pattern: str = "gpt2"
    special_tokens: list[str] = field(default_factory=lambda: [EOT])
    pictures: bool = True


def train_and_report(cfg: TrainConfig, out: str | Path | None, progress: bool | None = None) -> dict:
    """Train on the corpus' train split, save into the run folder, measure compression on the val
    split, draw the pictures. Shared by `llmlab tokenizer train` and the roadmap step."""
    from llmlab.data import load_corpus
    from llmlab.runs import RunFolder
    from llmlab.tokenizer.bpe import BPETokenizer

    corpus = load_corpus(cfg.corpus)
    train, val = corpus.split()
    run = RunFolder.create("tokenizer", name=f"{Path(cfg.corpus).name}-{cfg.vocab_size}", out=out)
    run.save_config(cfg)
    start = time.perf_counter()
    tok = BPETokenizer.train(train, cfg.vocab_size, cfg.pattern, cfg.special_tokens, progress=progress)
    seconds = time.perf_counter() - start
    tok.save(run.path)
    summary = {"corpus": corpus.name, "vocab_size": tok.vocab_size, "merges": len(tok.merges),
               "pattern": tok.pattern_name, "special_tokens": tok.special_tokens,
               "train_seconds": round(seconds, 3), "train_bytes": train.n_bytes,
               "tokenizer_dir": str(run.path)}
    for part, docs in (("train", train), ("val", val)):
        n_tokens = sum(len(ids) for ids in tok.encode_batch([d.text for d in docs.documents],
                                                            disallowed_special=()))
        summary[f"{part}_bytes_per_token"] = round(docs.n_bytes / max(n_tokens, 1), 4)
    if cfg.pictures:
        from llmlab.tokenizer.pictures import merge_tree, vocab_growth, write_html

        merge_tree(tok, run.file("merge_tree.png"))
        summary.update(vocab_growth(tok, val.text[:CURVE_SAMPLE_CHARS], run.path))
        write_html(tok, val.text[:HTML_SAMPLE_CHARS], run.file("tokens.html"),
                   title=f"{corpus.name} (held-out) in {tok.vocab_size} tokens")
        summary["pictures"] = sorted(p.name for p in run.path.glob("*.png")) + ["tokens.html"]
    run.save_summary(summary)
    return summary


@app.command("train")
def train(corpus: str = typer.Option("python-docs", "--corpus", "-c",
                                     help="python-docs | python-stdlib | tinyshakespeare | hf:NAME | PATH"),
          vocab_size: int = typer.Option(4096, "--vocab-size", "-v",
                                         help="256 bytes + merges + special tokens"),
          pattern: str = typer.Option("gpt2", "--pattern", "-p", help="gpt2 | gpt4 | a regex"),
          special: list[str] = typer.Option([EOT], "--special", help="special token (repeat for several)"),
          no_special: bool = typer.Option(False, "--no-special", help="no special tokens at all"),
          pictures: bool = typer.Option(True, "--pictures/--no-pictures",
                                        help="merge tree, growth curves, tokens.html"),
          out: Path = typer.Option(None, "--out", "-o",
                                   help="folder (default runs/tokenizer/<corpus>-<vocab>)"),
          as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Train a byte-level BPE on a corpus' train split; writes the llmlab files AND tokenizer.json."""
    cfg = TrainConfig(corpus, vocab_size, pattern, [] if no_special else list(special), pictures)
    summary = train_and_report(cfg, out)
    print_summary(summary, as_json=as_json, title="tokenizer")


def _open_bpe(directory: Path):
    from llmlab.tokenizer.base import load_tokenizer

    tok = load_tokenizer(directory)
    if tok.kind != "bpe":
        raise LabError(f"{directory} holds a {tok.kind} tokenizer; this command draws BPE tokens",
                       hint="train one with `llmlab tokenizer train --out DIR`")
    return tok


def _read_text(text: str | None, file: Path | None) -> str:
    if file is not None:
        if not file.exists():
            raise LabError(f"no file at {file}", hint="give --file an existing UTF-8 text file")
        return file.read_text(encoding="utf-8")
    if text is None:
        raise LabError("no text given", hint='pass the text as an argument, or --file PATH')
    return text


TOKENIZER_OPTION = typer.Option(..., "--tokenizer", "-t", help="a folder written by `llmlab tokenizer train`")


@app.command("encode")
def encode(text: str = typer.Argument(None, help="text to encode (or --file)"),
           tokenizer: Path = TOKENIZER_OPTION,
           file: Path = typer.Option(None, "--file", "-f", help="encode this file instead"),
           allow_special: bool = typer.Option(False, "--allow-special",
                                              help="special-token text becomes its id"),
           as_json: bool = typer.Option(False, "--json",
                                        help="print {ids, n_tokens, bytes_per_token} as JSON")) -> None:
    """Text -> token ids."""
    from llmlab.tokenizer.base import load_tokenizer

    tok = load_tokenizer(tokenizer)
    text = _read_text(text, file)
    try:
        ids = (
            tok.encode(text, allowed_special="all")
            if allow_special and tok.kind == "bpe"
            else tok.encode(text)
        )
    except LabError as exc:
        raise LabError(exc.message, hint="add --allow-special to encode it as its id") from None
    if as_json:
        n_bytes = len(text.encode("utf-8"))
        print(json.dumps({"ids": ids, "n_tokens": len(ids), "bytes_per_token": n_bytes / max(len(ids), 1)}))
    else:
        print(" ".join(map(str, ids)))


@app.command("decode")
def decode(ids: list[int] = typer.Argument(..., help="token ids, e.g. 72 101 108"),
           tokenizer: Path = TOKENIZER_OPTION) -> None:
    """Token ids -> text (ids that split a character decode to U+FFFD)."""
    from llmlab.tokenizer.base import load_tokenizer

    print(load_tokenizer(tokenizer).decode(ids))


@app.command("viz")
def viz(text: str = typer.Argument(None, help="text to show (or --file)"),
        tokenizer: Path = TOKENIZER_OPTION,
        file: Path = typer.Option(None, "--file", "-f", help="show this file instead"),
        html: Path = typer.Option(None, "--html", help="also write a self-contained HTML page here")) -> None:
    """Show text with one colour per token, in the terminal (and as HTML with --html)."""
    from llmlab.tokenizer.pictures import terminal_text, write_html

    tok = _open_bpe(tokenizer)
    text = _read_text(text, file)
    console.print(terminal_text(tok, text))
    n_tokens, n_bytes = len(tok.encode(text, allowed_special="all")), len(text.encode("utf-8"))
    console.print(f"[dim]{n_tokens} tokens, {n_bytes} bytes, {n_bytes / max(n_tokens, 1):.2f} "
                  f"bytes/token[/dim]")
    if html is not None:
        console.print(f"html: {write_html(tok, text, html, title=f'{tokenizer.name}: {n_tokens} tokens')}")


@app.command("compare")
def compare(corpus: str = typer.Option("python-docs", "--corpus", "-c"),
            vocab_size: int = typer.Option(2048, "--vocab-size", "-v"),
            pattern: str = typer.Option("gpt2", "--pattern", "-p", help="gpt2 | gpt4 | a regex"),
            repeats: int = typer.Option(3, "--repeats",
                                        help="timings are the median of this many interleaved runs"),
            out: Path = typer.Option(None, "--out", "-o", help="folder for summary.json"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Train llmlab's BPE and HF tokenizers' the same way: vocabulary, compression, ids, speed."""
    from llmlab.data import load_corpus
    from llmlab.runs import RunFolder
    from llmlab.tokenizer.compare import compare as run_compare

    train, val = load_corpus(corpus).split()
    report = {"corpus": corpus, **run_compare([d.text for d in train.documents],
                                              [d.text for d in val.documents],
                                              vocab_size, pattern, repeats)}
    run = RunFolder.create("tokenizer", name=f"compare-{Path(corpus).name}-{vocab_size}", out=out)
    run.save_summary(report)
    print_summary(report, as_json=as_json, title=f"llmlab vs HF tokenizers / tiktoken on {corpus}")


def register(root: typer.Typer) -> None:
    """Plug `llmlab tokenizer ...` into the root command."""
    root.add_typer(app, name="tokenizer")
