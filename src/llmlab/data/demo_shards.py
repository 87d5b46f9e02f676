"""A small shard set made from scratch in seconds: a BPE trained on part of python-stdlib, then the
full data pipeline (clean, de-duplicate, split, tokenise, shard) over the same documents.

    data = stdlib_shards("runs/pretrain/data", max_documents=300, vocab_size=2048)

The pretrain roadmap step, fine-tuning's offline base model and the tests train on this; the real recipe
uses all of python-stdlib (or a Hub dataset) and a larger vocabulary (docs/pretrain.md). It lives in the
data layer because two projects use it (pretrain and finetune) and neither may import the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def stdlib_shards(out: str | Path, max_documents: int = 300, vocab_size: int = 2048, workers: int = 1,
                  shard_tokens: int = 1_000_000) -> dict[str, Any]:
    """Make `out/tokenizer` and `out/{train,val}_*.bin`; returns the pipeline's report."""
    from llmlab.data import load_corpus
    from llmlab.data.prepare import PrepareConfig, prepare
    from llmlab.tokenizer.bpe import EOT, BPETokenizer

    out = Path(out)
    corpus = load_corpus("python-stdlib", max_documents=max_documents)
    train, _ = corpus.split()
    tok = BPETokenizer.train(train, vocab_size=vocab_size, special_tokens=[EOT], progress=False)
    tok.save(out / "bpe")
    cfg = PrepareConfig(max_documents=max_documents, workers=workers, shard_tokens=shard_tokens)
    report = prepare("python-stdlib", out / "bpe", out, cfg)
    report["tokenizer_dir"] = str(out / "bpe")
    return report
