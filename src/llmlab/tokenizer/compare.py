"""llmlab's BPE next to the references, measured in one process: HF tokenizers trained the same way,
and tiktoken built from the same ranks.

    report = compare(train_texts, held_out_texts, vocab_size=1024, pattern="gpt2", repeats=3)

Timings interleave the contenders and keep the median of `repeats`, so a busy machine slows all of
them alike; the report holds ratios, which is what to quote. "cold" encoding starts from an empty
chunk cache (the fair comparison: tiktoken keeps none); "warm" encodes the same texts again.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from llmlab.tokenizer.bpe import BPETokenizer
from llmlab.tokenizer.byte_alphabet import to_chars
from llmlab.tokenizer.pretokenize import resolve_pattern


def hf_train(texts: Sequence[str], vocab_size: int, pattern: str, special_tokens: Sequence[str] = ()) -> Any:
    """HF's BpeTrainer, set up as byte-level BPE: all 256 bytes in the alphabet, no prefix space,
    GPT-2's regex through `ByteLevel` (or `Split(pattern)` before it for another pattern)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    name, regex_text = resolve_pattern(pattern)
    tok = Tokenizer(models.BPE())
    if name == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex_text), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special_tokens),
                                  show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(texts), trainer)
    return tok


def vocab_difference(ours: BPETokenizer, hf: Any) -> dict[str, Any]:
    """Tokens only one side learned (special tokens aside), spelled as in tokenizer.json."""
    mine = {to_chars(data) for data in ours.vocab}
    specials = set(ours.special_tokens)
    theirs = set(hf.get_vocab()) - specials
    only_ours, only_hf = sorted(mine - theirs), sorted(theirs - mine)
    return {"only_llmlab": len(only_ours), "only_hf": len(only_hf),
            "examples_llmlab": only_ours[:5], "examples_hf": only_hf[:5]}


def parity(tok: BPETokenizer, texts: Sequence[str]) -> dict[str, bool]:
    """Same ids from llmlab, its tiktoken export and its HF export; decode gives the text back."""
    enc, hf = tok.to_tiktoken(), tok.to_hf().backend_tokenizer
    ok = {"roundtrip": True, "tiktoken_ids_equal": True, "hf_ids_equal": True}
    for text in texts:
        ids = tok.encode_ordinary(text)
        ok["roundtrip"] &= tok.decode(ids) == text
        ok["tiktoken_ids_equal"] &= ids == enc.encode_ordinary(text)
        ok["hf_ids_equal"] &= ids == hf.encode(text, add_special_tokens=False).ids
    return ok


def median_times(contenders: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Run each contender `repeats` times, interleaved (a, b, a, b, ...); the median seconds of each."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def encode_speeds(tok: BPETokenizer, texts: Sequence[str], repeats: int) -> dict[str, float]:
    """MB/s of UTF-8 input, one thread each: llmlab (cold and warm cache), tiktoken, HF tokenizers."""
    enc, hf = tok.to_tiktoken(), tok.to_hf().backend_tokenizer
    warm = BPETokenizer(tok.merges, tok.pattern)
    for text in texts:
        warm.encode_ordinary(text)

    def cold() -> None:
        fresh = BPETokenizer(tok.merges, tok.pattern)   # an empty chunk cache
        for text in texts:
            fresh.encode_ordinary(text)

    seconds = median_times({
        "llmlab_cold": cold,
        "llmlab_warm": lambda: [warm.encode_ordinary(t) for t in texts],
        "tiktoken": lambda: [enc.encode_ordinary(t) for t in texts],
        "hf": lambda: [hf.encode(t, add_special_tokens=False) for t in texts],
    }, repeats)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    return {name: megabytes / s for name, s in seconds.items()}


def compare(train_texts: Sequence[str], held_out: Sequence[str], vocab_size: int, pattern: str = "gpt2",
            repeats: int = 3) -> dict[str, Any]:
    """Train both the same way, then compare vocabularies, ids, compression and speed."""
    results: dict[str, Any] = {}
    seconds = median_times({
        "llmlab": lambda: results.__setitem__("ours", BPETokenizer.train(train_texts, vocab_size, pattern,
                                                                         progress=False)),
        "hf": lambda: results.__setitem__("hf", hf_train(train_texts, vocab_size, pattern)),
    }, repeats)
    ours, hf = results["ours"], results["hf"]
    held_bytes = sum(len(t.encode("utf-8")) for t in held_out)
    ours_tokens = sum(len(ours.encode_ordinary(t)) for t in held_out)
    hf_tokens = sum(len(hf.encode(t).ids) for t in held_out)
    speeds = encode_speeds(ours, held_out, repeats)
    return {
        "vocab_size": vocab_size, "pattern": resolve_pattern(pattern)[0],
        "train_seconds": {"llmlab": round(seconds["llmlab"], 3), "hf": round(seconds["hf"], 3)},
        "train_time_vs_hf": round(seconds["llmlab"] / seconds["hf"], 3),
        "vocab_difference": vocab_difference(ours, hf),
        "held_out_bytes_per_token": {"llmlab": round(held_bytes / max(ours_tokens, 1), 4),
                                     "hf": round(held_bytes / max(hf_tokens, 1), 4)},
        "encode_mb_per_s": {k: round(v, 3) for k, v in speeds.items()},
        "encode_vs_tiktoken": {"cold": round(speeds["llmlab_cold"] / speeds["tiktoken"], 3),
                               "warm": round(speeds["llmlab_warm"] / speeds["tiktoken"], 3)},
        "parity_held_out": parity(ours, held_out),
    }
