"""The pretraining data pipeline: corpus -> clean -> exact and near de-duplication -> train/val split
-> tokenisation in parallel processes -> token shards, with a report of what each stage removed
(`OUT/summary.json`).

    report = prepare("python-stdlib", tokenizer="runs/tokenizer/bpe", out="data/stdlib")
    llmlab data prepare --corpus python-stdlib --tokenizer runs/tokenizer/bpe --out data/stdlib

De-duplication runs before the split, so no copy of a validation document can sit in training.
The tokenizer is copied into `OUT/tokenizer/` (with its `tokenizer.json`), so a model trained on
the shards can save it next to its weights. Each document ends with `<|endoftext|>` when the
tokenizer has it, else with the ids of a blank line.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmlab.atomic import rebuild_dir
from llmlab.config import apply_overrides, config_dict
from llmlab.data.clean import CleanConfig, StageReport, clean_documents
from llmlab.data.corpus import DOC_SEPARATOR, Document
from llmlab.data.dedup import exact_dedup, near_dedup
from llmlab.data.shards import ShardWriter
from llmlab.errors import LabError
from llmlab.progress import progress_bar
from llmlab.runs import RunFolder

EOT = "<|endoftext|>"
# what a run writes into OUT (and replaces)
PREPARED = ("train_*.bin", "val_*.bin", "tokenizer", "summary.json")


@dataclass
class PrepareConfig:
    max_documents: int | None = None    # read at most this many (streams hf: datasets)
    exact_dedup: bool = True
    near_dedup: bool = True
    near_threshold: float = 0.8         # estimated Jaccard of word 5-gram sets
    num_perm: int = 128
    ngram: int = 5
    val_fraction: float = 0.1
    shard_tokens: int = 100_000_000     # ids per shard file (200 MB as uint16)
    workers: int = 0                    # tokenising processes; 0 = one per CPU core


def split_overrides(overrides: list[str] | None) -> tuple[PrepareConfig, CleanConfig]:
    """`--set` keys go to whichever of the two configs has them."""
    clean_keys = {f.name for f in dataclasses.fields(CleanConfig)}
    mine = [o for o in overrides or [] if o.split("=", 1)[0].strip() not in clean_keys]
    theirs = [o for o in overrides or [] if o.split("=", 1)[0].strip() in clean_keys]
    return apply_overrides(PrepareConfig(), mine), apply_overrides(CleanConfig(), theirs)


# ---- the tokenizer, whichever kind: an llmlab folder, or a Hugging Face tokenizer (name or folder)

class HFTokenizerAdapter:
    """The slice of llmlab's tokenizer interface the pipeline needs, over a transformers tokenizer."""

    def __init__(self, tok: Any):
        self.tok = tok

    @property
    def vocab_size(self) -> int:
        return len(self.tok)

    @property
    def special_tokens(self) -> dict[str, int]:
        return {t: self.tok.convert_tokens_to_ids(t) for t in self.tok.all_special_tokens}

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.tok(texts, add_special_tokens=False)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def save(self, directory: str | Path) -> Path:
        self.tok.save_pretrained(str(directory))
        return Path(directory)

    def to_hf(self) -> Any:
        return self.tok


def open_tokenizer(spec: str | Path) -> Any:
    """An llmlab tokenizer folder, or anything `AutoTokenizer.from_pretrained` takes (e.g. `gpt2`)."""
    from llmlab.tokenizer.base import META_FILE, load_tokenizer

    path = Path(spec)
    if (path / META_FILE).exists():
        return load_tokenizer(path)
    try:
        from llmlab.hub import load_hf_tokenizer

        return HFTokenizerAdapter(load_hf_tokenizer(spec))
    except Exception as exc:
        raise LabError(f"no tokenizer at {spec!r}: not an llmlab tokenizer folder, and transformers could "
                       f"not "
                       f"load it ({type(exc).__name__})",
                       hint="train one with `llmlab tokenizer train --out DIR`, or name a Hub tokenizer such "
                            "as "
                            "gpt2 (needs a network once)") from exc


def document_end(tok: Any) -> tuple[list[int], int | None]:
    """The ids that close each document, and the end-of-text id if the tokenizer has one."""
    eot = tok.special_tokens.get(EOT)
    if eot is not None:
        return [eot], eot
    return tok.encode(DOC_SEPARATOR), None


# ---- tokenising in worker processes

_worker: dict[str, Any] = {}


def _init_worker(tokenizer_dir: str) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tok = open_tokenizer(tokenizer_dir)
    _worker["tok"] = tok
    _worker["end"] = np.asarray(document_end(tok)[0], dtype=np.int64)


def _encode_chunk(texts: list[str]) -> np.ndarray:
    """A chunk of documents -> one array: doc ids + end ids, for each document in order."""
    end = _worker["end"]
    parts = []
    for ids in _worker["tok"].encode_batch(texts):
        parts.append(np.asarray(ids, dtype=np.int64))
        parts.append(end)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _chunks(docs: list[Document], max_chars: int = 1_000_000, max_docs: int = 64) -> Iterator[list[str]]:
    chunk, size = [], 0
    for doc in docs:
        chunk.append(doc.text)
        size += len(doc.text)
        if size >= max_chars or len(chunk) >= max_docs:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _pool(workers: int, tokenizer_dir: Path):
    # fork is fast and the pipeline holds no threads or CUDA; elsewhere fall back to spawn.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return mp.get_context(method).Pool(workers, initializer=_init_worker, initargs=(str(tokenizer_dir),))


def tokenize_to_shards(docs: list[Document], split: str, tokenizer_dir: Path, out: Path, vocab_size: int,
                       eot_id: int | None, cfg: PrepareConfig, pool: Any, meta: dict[str,
                                                                                     Any]) -> ShardWriter:
    chunks = list(_chunks(docs))
    writer = ShardWriter(out, split, vocab_size, eot_id, cfg.shard_tokens, meta)
    if pool is None:
        _init_worker(str(tokenizer_dir))
        results = map(_encode_chunk, chunks)
    else:
        results = pool.imap(_encode_chunk, chunks)  # ordered: the shards do not depend on the worker count
    with progress_bar(len(docs), f"tokenise {split}", unit="B") as bar:
        for chunk, ids in zip(chunks, results, strict=True):
            if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
                raise LabError(f"the tokenizer produced id {int(ids.max())} outside its vocabulary of "
                               f"{vocab_size}",
                               hint="the tokenizer folder looks inconsistent; save it again")
            writer.add(ids, documents=len(chunk))
            bar.advance(len(chunk), amount=sum(len(t.encode("utf-8")) for t in chunk))
    writer.close()
    return writer


def _size(docs: list[Document]) -> dict[str, int]:
    return {"documents": len(docs), "bytes": sum(len(d.text.encode("utf-8")) for d in docs)}


def prepare(corpus: str, tokenizer: str | Path, out: str | Path, cfg: PrepareConfig | None = None,
            clean: CleanConfig | None = None, log=print) -> dict[str, Any]:
    """Run the whole pipeline; returns (and writes to OUT/summary.json) what each stage did.

    OUT is rebuilt whole or not at all: the shards, `tokenizer/` and summary.json of an earlier run are
    replaced only when the new ones are complete; other files in OUT are kept."""
    from llmlab.data import load_corpus

    cfg, clean = cfg or PrepareConfig(), clean or CleanConfig()
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    # both inputs are opened before anything is written: a mistyped --corpus or --tokenizer changes nothing
    tok = open_tokenizer(tokenizer)
    source = load_corpus(corpus, cfg.max_documents)
    times["read"] = time.perf_counter() - t0
    # built beside OUT and swapped in at the end, so a failure or a kill leaves the last shards whole
    with rebuild_dir(out, owned=PREPARED) as build:
        return _prepare(corpus, tokenizer, tok, source, build, cfg, clean, times, t0)


def _prepare(corpus: str, tokenizer: str | Path, tok: Any, source: Any, out: Path, cfg: PrepareConfig,
             clean: CleanConfig, times: dict[str, float], t0: float) -> dict[str, Any]:
    from llmlab.data.corpus import Corpus

    tok_dir = out / "tokenizer"
    tok.save(tok_dir)
    end_ids, eot_id = document_end(tok)
    docs = source.documents
    stages: dict[str, dict] = {}

    t = time.perf_counter()
    docs, rejected = clean_documents(docs, clean)
    for rule, report in rejected.items():
        stages[f"clean/{rule}"] = report.as_dict()
    times["clean"] = time.perf_counter() - t

    workers = cfg.workers or os.cpu_count() or 1
    pool = _pool(workers, tok_dir) if workers > 1 else None
    try:
        t = time.perf_counter()
        if cfg.exact_dedup:
            docs, report = exact_dedup(docs)
            stages["exact_duplicates"] = report.as_dict()
        if cfg.near_dedup:
            with progress_bar(len(docs), "near-duplicates", unit="doc") as bar:
                def mapper(fn, items):
                    results = pool.imap(fn, items, chunksize=8) if pool else map(fn, items)
                    for r in results:
                        bar.advance(1)
                        yield r
                docs, report = near_dedup(docs, cfg.near_threshold, cfg.num_perm, cfg.ngram, map_fn=mapper)
            stages["near_duplicates"] = report.as_dict()
        times["dedup"] = time.perf_counter() - t
        if len(docs) < 2:
            raise LabError(f"only {len(docs)} document(s) of {corpus!r} survived cleaning and de-duplication",
                           hint="loosen the filters with --set (e.g. min_chars=50) or use a larger corpus")

        train, val = Corpus(corpus, docs).split(cfg.val_fraction)
        t = time.perf_counter()
        meta = {"corpus": corpus, "tokenizer": type(tok).__name__}
        writers = {name: tokenize_to_shards(part.documents, name, tok_dir, out, tok.vocab_size, eot_id, cfg,
                                            pool, meta)
                   for name, part in (("train", train), ("val", val))}
        times["tokenise"] = time.perf_counter() - t
    finally:
        if pool is not None:
            pool.close()
            pool.join()

    kept_bytes = _size(docs)["bytes"]
    n_tokens = sum(w.n_tokens for w in writers.values())
    report = {
        "corpus": corpus,
        "tokenizer": str(tokenizer),
        "vocab_size": tok.vocab_size,
        "eot_id": eot_id,
        "document_end_ids": end_ids,
        "input": _size(source.documents),
        "removed": stages,
        "kept": _size(docs),
        "split": {"train_documents": train.n_documents, "val_documents": val.n_documents,
                  "train_bytes": train.n_bytes, "val_bytes": val.n_bytes},
        "tokens": {name: w.n_tokens for name, w in writers.items()},
        "bytes_per_token": round(kept_bytes / max(n_tokens, 1), 3),
        "shards": {name: [p.name for p in w.paths] for name, w in writers.items()},
        "config": {**config_dict(cfg), "clean": config_dict(clean)},
        "seconds": {k: round(v, 2) for k, v in times.items()} | {"total": round(time.perf_counter() - t0, 2)},
        "notes": source.notes,
    }
    RunFolder(out).save_summary(report)
    return report


def removed_table(report: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(stage, documents, bytes) rows for printing."""
    return [(name, r["documents"], r["bytes"]) for name, r in report["removed"].items()]


__all__ = ["PrepareConfig", "StageReport", "prepare", "split_overrides", "open_tokenizer"]
