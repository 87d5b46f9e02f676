"""`llmlab learn run tokenizer --mine`: BPE trained and used with the learner's pieces, beside llmlab's.

The learner's passing pieces are patched into `llmlab.tokenizer.bpe` (pre-tokenising and training)
and into `BPETokenizer` (encoding, decoding, special tokens) for the length of the run; `pairs` and
`merge` are graded pieces that the pipeline reaches only through the learner's own train.py.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from unittest import mock

PATCHES = {   # exercise -> (object patched, attribute, name in the learner's file)
    "pretokenize": ("llmlab.tokenizer.bpe", "count_chunks", "count_chunks"),
    "train": ("llmlab.tokenizer.bpe", "learn_merges", "learn_merges"),
    "encode": ("llmlab.tokenizer.bpe:BPETokenizer", "_encode_chunk", "encode_chunk"),
    "decode": ("llmlab.tokenizer.bpe:BPETokenizer", "decode_bytes", "decode_bytes"),
    "specials": ("llmlab.tokenizer.bpe:BPETokenizer", "encode", "encode"),
}


@contextlib.contextmanager
def learner_pieces(modules: dict):
    from llmlab.learn.catalog import resolve

    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            if exercise in PATCHES:
                target, name, theirs = PATCHES[exercise]
                owner = resolve(target) if ":" in target else __import__(target, fromlist=["_"])
                stack.enter_context(mock.patch.object(owner, name, getattr(module, theirs)))
        yield


def _measure(texts: list[str], held_out: str, vocab_size: int) -> dict:
    from llmlab.tokenizer import EOT, BPETokenizer

    tok = BPETokenizer.train(texts, vocab_size=vocab_size, special_tokens=[EOT], progress=False)
    ids = tok.encode(held_out + EOT, allowed_special="all")
    return {"merges": [tuple(m) for m in tok.merges], "ids": ids,
            "bytes_per_token": len((held_out + EOT).encode("utf-8")) / max(1, len(ids)),
            "roundtrip": tok.decode(ids) == held_out + EOT}


def run_mine(folder: Path, modules: dict, steps: int = 0, seed: int = 0, log=print,
             vocab_size: int = 512) -> str:
    """Train on part of the python-docs corpus and encode held-out text, reference then yours."""
    from llmlab.data import load_corpus

    train, val = load_corpus("python-docs").split()
    texts = [d.text for d in train.documents[:20]]
    held_out = "".join(d.text for d in val.documents)[:20000]
    log(f"training BPE to {vocab_size} tokens on 20 python-docs documents, encoding 20,000 held-out "
        f"characters")
    ref = _measure(texts, held_out, vocab_size)
    with learner_pieces(modules):
        mine = _measure(texts, held_out, vocab_size)
    same_merges = ref["merges"] == mine["merges"]
    same_ids = ref["ids"] == mine["ids"]
    log(f"{'':<22}{'reference':>12}{'mine':>12}")
    log(f"{'merges learned':<22}{len(ref['merges']):>12}{len(mine['merges']):>12}")
    log(f"{'held-out tokens':<22}{len(ref['ids']):>12}{len(mine['ids']):>12}")
    log(f"{'bytes per token':<22}{ref['bytes_per_token']:>12.3f}{mine['bytes_per_token']:>12.3f}")
    log(f"{'decodes losslessly':<22}{ref['roundtrip']!s:>12}{mine['roundtrip']!s:>12}")
    log(f"same merges: {same_merges}; same ids: {same_ids}")
    pieces = ", ".join(sorted(set(modules) & set(PATCHES))) or "none"
    return (f"run --mine (mine: {pieces}): {mine['bytes_per_token']:.3f} bytes/token vs reference "
            f"{ref['bytes_per_token']:.3f}; " + ("identical merges and ids" if same_merges and same_ids
                                                  else f"same merges {same_merges}, same ids {same_ids}"))
