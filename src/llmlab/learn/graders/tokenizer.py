"""Graders of project 2: the BPE pieces against HF tokenizers (trainer, pre-tokenizer) and tiktoken
(ids and bytes from the same ranks), plus small hand-checked cases (overlaps, ties, partial characters)."""

from __future__ import annotations

import types
from collections import Counter
from functools import lru_cache

from llmlab.learn.grading import Mismatch, check_equal

EOT = "<|endoftext|>"


def _texts(n: int = 6) -> list[str]:
    from llmlab.data import load_corpus

    docs = load_corpus("python-docs").documents
    edge_cases = ["aaaa aaaaa abababab " * 5, "naïve café — 中文字符 😀 x = 12345\n"]
    return [d.text[:6000] for d in docs[:n]] + edge_cases


@lru_cache(maxsize=1)
def _reference_tokenizer():
    """llmlab's tokenizer trained on a little corpus; its tiktoken export is the reference for ids."""
    from llmlab.tokenizer import BPETokenizer

    return BPETokenizer.train(_texts(), vocab_size=256 + 300, special_tokens=[EOT, "<|pad|>"])


HELD_OUT = ["The quick brown fox — naïve café, 中文 😀!\n    return {'a': [1, 2, 3]}  \n\n",
            "Exceptions are raised with the raise statement; see the tutorial. aaaaaaa ababab",
            "x = 12345678 + 3.14159e-10\n\tdef f(self):\n        pass\n"]


def grade_pairs(ns) -> None:
    cases = [([[1, 2, 3, 1, 2]], [2]), ([[97, 97, 97]], [1]), ([[5]], [3]), ([], [])]
    docs = [list(t.encode("utf-8")) for t in ("hello", " world", "aaaa", "abab", "x")]
    cases.append((docs, [3, 1, 2, 5, 7]))
    for words, freqs in cases:
        expected = Counter()
        for word, freq in zip(words, freqs, strict=True):
            for i in range(len(word) - 1):
                expected[(word[i], word[i + 1])] += freq
        got = ns.count_pairs([list(w) for w in words], list(freqs))
        check_equal("count_pairs", dict(Counter(got) if got is not None else {}), dict(expected),
                    f"words {words if len(words) < 3 else '(5 chunks)'}, freqs {freqs}")


def grade_merge(ns) -> None:
    import random

    def reference(word, a, b, new):
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == (a, b):
                out.append(new)
                i += 2
            else:
                out.append(word[i])
                i += 1
        return out

    cases = [([1, 2, 3, 1, 2], 1, 2, 9), ([97, 97, 97], 97, 97, 256), ([97, 97, 97, 97], 97, 97, 256),
             ([1, 2], 1, 2, 7), ([2, 1], 1, 2, 7), ([], 1, 2, 7), ([1], 1, 1, 7)]
    rng = random.Random(0)
    cases += [([rng.randint(0, 2) for _ in range(rng.randint(0, 12))], 1, 1, 9) for _ in range(30)]
    for word, a, b, new in cases:
        check_equal("merge_word", ns.merge_word(list(word), a, b, new), reference(word, a, b, new),
                    f"word {word}, pair ({a}, {b}) -> {new}")


def grade_train(ns) -> None:
    from llmlab.tokenizer.byte_alphabet import to_chars
    from llmlab.tokenizer.compare import hf_train
    from llmlab.tokenizer.pretokenize import PATTERNS, count_chunks

    learned = ns.learn_merges({"aaa": 1}, 258)
    check_equal("learn_merges({'aaa': 1}, 258).vocab[256:]", list(learned.vocab[256:]), [b"aa", b"aaa"])
    texts = _texts(4)
    n_tokens = 256 + 150
    hf = hf_train(texts, n_tokens, "gpt2")
    import json

    hf_merges = json.loads(hf.to_str())["model"]["merges"]
    expected = [(m.split(" ") if isinstance(m, str) else m) for m in hf_merges]
    learned = ns.learn_merges(dict(count_chunks(texts, PATTERNS["gpt2"])), n_tokens)
    got = [(to_chars(learned.vocab[a]), to_chars(learned.vocab[b])) for a, b, _ in learned.merges]
    for i, (mine, theirs) in enumerate(zip(got, expected, strict=False)):
        if tuple(mine) != tuple(theirs):
            raise Mismatch(f"learn_merges on 4 python-docs documents (HF BpeTrainer, {n_tokens} tokens): "
                           f"merge {i} "
                           f"is {mine[0]!r} + {mine[1]!r}, HF merged {theirs[0]!r} + {theirs[1]!r} "
                           "(tokens spelled as in tokenizer.json: Ġ is a space) — a count or a tie "
                           "broken the other way?")
    check_equal("learn_merges: number of merges", len(got), len(expected),
                f"4 python-docs documents, {n_tokens} tokens, as HF's BpeTrainer")


def grade_encode(ns) -> None:
    tok = _reference_tokenizer()
    enc = tok.to_tiktoken()
    encode_chunk = types.MethodType(ns.encode_chunk, tok)
    for text in HELD_OUT:
        expected = enc.encode_ordinary(text)
        got = []
        for chunk in tok._split(text):
            got.extend(encode_chunk(chunk.encode("utf-8")))
        check_equal("encode_chunk over every chunk of the text", got, expected,
                    f"text {text[:40]!r}..., a tokenizer with 300 merges, compared with tiktoken")


def grade_decode(ns) -> None:
    tok = _reference_tokenizer()
    enc = tok.to_tiktoken()
    decode_bytes = types.MethodType(ns.decode_bytes, tok)
    pad = tok.special_tokens["<|pad|>"]
    cases = [enc.encode(t, allowed_special="all") for t in HELD_OUT + ["a<|endoftext|>b<|pad|>"]]
    cases += [list(range(250, 260)), [0xC3], [pad, 0xC3, 0xA9], []]      # half a character, then é whole
    for ids in cases:
        check_equal("decode_bytes", decode_bytes(list(ids)), enc.decode_bytes(ids), f"ids {ids[:12]}...")


def grade_pretokenize(ns) -> None:
    from tokenizers import Regex, pre_tokenizers

    from llmlab.tokenizer.pretokenize import PATTERNS

    texts = HELD_OUT + ["hello world", "hello", "ends with a word", " starts with a space"]
    for name in ("gpt2", "gpt4"):
        split = pre_tokenizers.Split(Regex(PATTERNS[name]), behavior="isolated")
        expected = Counter(piece for text in texts for piece, _ in split.pre_tokenize_str(text))
        seen = []
        got = ns.count_chunks(list(texts), name, on_text=seen.append)
        check_equal(f"count_chunks(texts, {name!r})", dict(got), dict(expected),
                    f"{len(texts)} texts, compared with HF tokenizers' Split pre-tokenizer")
        check_equal("count_chunks: texts passed to on_text", seen, texts)


def grade_specials(ns) -> None:
    tok = _reference_tokenizer()
    enc = tok.to_tiktoken()
    encode = types.MethodType(ns.encode, tok)
    texts = ["a<|endoftext|>b", "<|endoftext|><|pad|>x<|endoftext|>", HELD_OUT[0] + "<|pad|>" + HELD_OUT[1],
             "no specials here", "<|endoftext|> ends with text <|end"]
    for text in texts:
        check_equal("encode(text, allowed_special='all')", encode(text, allowed_special="all"),
                    enc.encode(text, allowed_special="all"), f"text {text[:50]!r}")
        check_equal("encode(text, disallowed_special=())", encode(text, disallowed_special=()),
                    enc.encode(text, disallowed_special=()), f"text {text[:50]!r} (specials as plain text)")
        check_equal("encode(text, allowed_special={'<|pad|>'}, disallowed_special=())",
                    encode(text, allowed_special={"<|pad|>"}, disallowed_special=()),
                    enc.encode(text, allowed_special={"<|pad|>"}, disallowed_special=()),
                    f"text {text[:50]!r}")
    try:
        encode("hi <|endoftext|>")
    except (ValueError, Exception) as exc:
        if isinstance(exc, Mismatch | NotImplementedError):
            raise
    else:
        raise Mismatch("encode('hi <|endoftext|>') with the defaults must refuse (raise): a special token's "
                       "text "
                       "from a user must not silently become a control token")
