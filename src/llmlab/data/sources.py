"""Where corpora come from: `load_corpus("python-docs" | "python-stdlib" | "tinyshakespeare" |
"hf:<dataset>[:<split>]" | <file or folder>)`.

The two embedded corpora ship inside every CPython, so llmlab has real English and real code to
train on without a network: `pydoc_data.topics` (the reference manual's topics, ~465 KB in 79
documents) and the standard library's own `.py` files (~30 MB).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from llmlab.data.corpus import Corpus, Document
from llmlab.data.tinyshakespeare import tinyshakespeare_path
from llmlab.errors import LabError
from llmlab.hub import offline_unless_reachable

NAMED_CORPORA = ("python-docs", "python-stdlib", "tinyshakespeare")
TEXT_SUFFIXES = {".txt", ".md", ".rst", ".py", ".json", ".jsonl", ".csv", ".tsv", ".html", ".xml", ".yaml",
                 ".yml", ".toml", ".ini", ".cfg", ".c", ".h", ".js", ".ts", ".tex", ".lyrics", ""}


def python_docs() -> Corpus:
    from pydoc_data.topics import topics

    docs = [Document(name, text) for name, text in sorted(topics.items())]
    return Corpus("python-docs", docs, source="pydoc_data.topics")


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def python_stdlib(max_documents: int | None = None) -> Corpus:
    root = stdlib_dir()
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    corpus = _read_files("python-stdlib", root, files[:max_documents] if max_documents else files)
    corpus.source = str(root)
    return corpus


def tinyshakespeare() -> Corpus:
    path = tinyshakespeare_path()
    return Corpus("tinyshakespeare", [Document("tinyshakespeare", path.read_text(encoding="utf-8"))],
                  source=str(path))


def _read_files(name: str, root: Path, files: list[Path]) -> Corpus:
    """Decode each file as UTF-8; bytes that are not UTF-8 become U+FFFD and are reported, binaries
    skipped."""
    docs, notes, replaced, binaries = [], [], [], []
    for path in files:
        data = path.read_bytes()
        if b"\x00" in data[:8192]:
            binaries.append(path.name)
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            replaced.append(f"{path.relative_to(root) if path != root else path.name} "
                            f"({text.count(chr(0xFFFD))} replaced)")
        docs.append(Document(str(path.relative_to(root)) if path != root else path.name, text))
    if replaced:
        notes.append(f"{len(replaced)} file(s) had bytes that are not UTF-8, replaced with U+FFFD: "
                     + ", ".join(replaced[:10]))
    if binaries:
        notes.append(f"skipped {len(binaries)} binary file(s): " + ", ".join(binaries[:10]))
    return Corpus(name, docs, source=str(root), notes=notes)


def local_path(path: Path) -> Corpus:
    if path.is_file():
        corpus = _read_files(path.name, path, [path])
    else:
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        corpus = _read_files(path.name, path, files)
    if not corpus.documents or corpus.n_chars == 0:
        raise LabError(f"{path} holds no text to train on",
                       hint="point --corpus at a UTF-8 text file or a folder of .txt/.md/.py files")
    return corpus


def huggingface(spec: str, max_documents: int | None = None) -> Corpus:
    """`hf:<name>[:<split>]` through `datasets`; with max_documents, streamed so nothing large downloads."""
    _, _, rest = spec.partition(":")
    name, _, split = rest.partition(":")
    split = split or "train"
    if not name:
        raise LabError(f"{spec!r} names no dataset",
                       hint="write hf:<dataset>[:<split>], e.g. hf:roneneldan/TinyStories")
    offline_unless_reachable()
    try:
        import datasets

        ds = datasets.load_dataset(name, split=split, streaming=max_documents is not None)
        rows = ds.take(max_documents) if max_documents is not None else ds
        docs = []
        for i, row in enumerate(rows):
            text = row.get("text") if "text" in row else next((v for v in row.values() if isinstance(v, str)),
                                                              None)
            if text:
                docs.append(Document(f"{name}/{split}/{i}", text))
    except Exception as exc:  # offline, unknown dataset, no text column: all end here
        raise LabError(f"could not load the Hugging Face dataset {name!r} (split {split!r}): "
                       f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                       hint="this needs network access to the Hugging Face Hub or a cached copy; offline, "
                            "use "
                            "python-docs, python-stdlib or a local folder") from exc
    if not docs:
        raise LabError(f"the dataset {name!r} has no text rows in split {split!r}",
                       hint="choose a dataset with a 'text' column or another split")
    return Corpus(spec, docs, source=f"https://huggingface.co/datasets/{name}")


def load_corpus(spec: str, max_documents: int | None = None) -> Corpus:
    """Resolve a corpus name or path; unknown names fail with the list of what exists."""
    if spec == "python-docs":
        return python_docs()
    if spec == "python-stdlib":
        return python_stdlib(max_documents)
    if spec == "tinyshakespeare":
        return tinyshakespeare()
    if spec.startswith("hf:"):
        return huggingface(spec, max_documents)
    path = Path(spec).expanduser()
    if path.exists():
        return local_path(path)
    raise LabError(f"no corpus named {spec!r} and no file or folder at {path.resolve()}",
                   hint="use one of " + ", ".join(NAMED_CORPORA) + ", hf:<dataset>[:<split>], or a path")
