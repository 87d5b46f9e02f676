"""Byte-level BPE tokenizer: train on any text, encode and decode losslessly, export to HF and tiktoken.

    tok = BPETokenizer.train(load_corpus("python-docs"), vocab_size=4096, pattern="gpt2",
                             special_tokens=["<|endoftext|>"])
    ids = tok.encode("def f(x):\\n    return x")          # tok.decode(ids) gives the text back
    tok.save("runs/tok")        # llmlab_tokenizer.json + llmlab_vocab.txt + HF tokenizer.json

Ids: 0..255 are the bytes, then one id per learned token in the order it was learned (so an id is
also the token's rank, as in tiktoken), then the special tokens. Encoding splits text with the
pattern, then merges each chunk's bytes by rank — lowest-ranked learned pair first, left to right —
remembering every chunk it has seen (text is full of repeated words).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

from llmlab.errors import LabError
from llmlab.tokenizer.base import Tokenizer, read_meta
from llmlab.tokenizer.merges import Learned, learn_merges
from llmlab.tokenizer.pretokenize import compiled, count_chunks, resolve_pattern, texts_of

EOT = "<|endoftext|>"
CACHE_LIMIT = 1 << 20          # chunks remembered before the cache is emptied (memory stays bounded)
PARALLEL_MIN_CHARS = 4 << 20   # encode_batch uses worker processes only past this much text
NO_MERGE = 1 << 62             # the rank of a pair that was never merged
BAR_MIN_CHARS = 2 << 20        # training shows progress bars past this much text


class BPETokenizer(Tokenizer):
    kind = "bpe"

    def __init__(self, merges: Sequence[Sequence[int]], pattern: str = "gpt2",
                 special_tokens: Iterable[str] = (), merge_counts: Sequence[int] | None = None):
        self.pattern_name, self.pattern = resolve_pattern(pattern)
        self._split = compiled(self.pattern).findall
        self.merges = [tuple(int(x) for x in m) for m in merges]
        self.merge_counts = list(merge_counts or [])
        self.vocab: list[bytes] = [bytes([b]) for b in range(256)]   # id -> bytes, learned tokens only
        self._rank: dict[tuple[int, int], int] = {}                   # (a, b) -> merge rank
        for rank, (a, b, new) in enumerate(self.merges):
            if new == len(self.vocab):
                self.vocab.append(self.vocab[a] + self.vocab[b])
            elif new > len(self.vocab) or self.vocab[new] != self.vocab[a] + self.vocab[b]:
                raise LabError(f"merge {rank} ({a}, {b}) -> {new} does not fit the merges before it",
                               hint="the tokenizer files are damaged; train the tokenizer again")
            self._rank.setdefault((a, b), rank)
        self._special: dict[str, int] = {}
        self._special_regex = None
        self._cache: dict[str, list[int]] = {}
        self.add_special_tokens(special_tokens)

    # ---------------------------------------------------------------- training
    @classmethod
    def train(cls, source: Any, vocab_size: int, pattern: str = "gpt2", special_tokens: Iterable[str] = (),
              progress: bool | None = None) -> BPETokenizer:
        """Learn merges from a Corpus, a string or strings until the vocabulary (specials included) has
        `vocab_size` tokens, or no pair of tokens occurs any more."""
        from llmlab.progress import progress_bar

        special_tokens = list(dict.fromkeys(special_tokens))
        if vocab_size < 256 + len(special_tokens):
            raise LabError(f"vocab_size {vocab_size} is too small: the 256 bytes and {len(special_tokens)} "
                           "special token(s) come first", hint=f"use at least {256 + len(special_tokens)}")
        name, regex_text = resolve_pattern(pattern)
        texts = list(texts_of(source))
        n_chars = sum(len(t) for t in texts if isinstance(t, str))
        # bars only for big corpora (and only on a terminal, see llmlab.progress)
        show = (None if n_chars > BAR_MIN_CHARS else False) if progress is None else progress
        with progress_bar(n_chars, "pre-tokenise", unit="char", enabled=show) as bar:
            chunks = count_chunks(texts, regex_text, on_text=lambda t: bar.advance(len(t)))
        if not chunks:
            raise LabError("there is no text to train on", hint="give a non-empty corpus or string")
        n_tokens = vocab_size - len(special_tokens)
        with progress_bar(n_tokens - 256, "BPE merges", unit="merge", enabled=show) as bar:
            learned = learn_merges(chunks, n_tokens,
                                   on_merge=lambda done, _: bar.advance(64) if done % 64 == 0 else None)
            bar.advance(len(learned.merges) % 64)
        return cls.from_learned(learned, name if name != "custom" else regex_text, special_tokens)

    @classmethod
    def from_learned(cls, learned: Learned, pattern: str, special_tokens: Iterable[str] = ()) -> BPETokenizer:
        return cls(learned.merges, pattern, special_tokens, learned.counts)

    # ---------------------------------------------------------------- the vocabulary
    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self._special)

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._special)

    @property
    def eot_id(self) -> int | None:
        """The id of `<|endoftext|>`, the separator between documents, when the tokenizer has one."""
        return self._special.get(EOT)

    def add_special_tokens(self, tokens: Iterable[str]) -> list[int]:
        """Give each new special token the next free id (after every learned token); returns their ids."""
        import regex

        ids = []
        for token in tokens:
            if not token:
                raise LabError("a special token cannot be empty", hint='use a marker such as "<|endoftext|>"')
            if token not in self._special:
                self._special[token] = self.vocab_size
            ids.append(self._special[token])
        if self._special:   # longest first, so "<|end|>" never shadows "<|endoftext|>"
            alternatives = sorted(self._special, key=len, reverse=True)
            self._special_regex = regex.compile("|".join(regex.escape(t) for t in alternatives))
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        if 0 <= token_id < len(self.vocab):
            return self.vocab[token_id]
        for token, tid in self._special.items():
            if tid == token_id:
                return token.encode("utf-8")
        raise LabError(f"token id {token_id} is not in this tokenizer (vocab size {self.vocab_size})",
                       hint="decode ids made by this same tokenizer")

    # ---------------------------------------------------------------- encoding
    def _encode_chunk(self, data: bytes) -> list[int]:
        """Merge the lowest-ranked learned pair, leftmost first, until no learned pair is left.

        ranks[i] is the merge rank of (ids[i], ids[i+1]); a merge at i changes only its two neighbours.
        (Merging the leftmost occurrence first is "merge every occurrence, left to right": pairs that
        contain the new token were learned later, so they rank lower.)
        """
        ids = list(data)
        get, merges = self._rank.get, self.merges
        ranks = [get(pair, NO_MERGE) for pair in pairwise(ids)]
        while ranks:
            best = min(ranks)
            if best == NO_MERGE:
                break
            i = ranks.index(best)
            ids[i:i + 2] = [merges[best][2]]
            del ranks[i]
            if i < len(ranks):
                ranks[i] = get((ids[i], ids[i + 1]), NO_MERGE)
            if i > 0:
                ranks[i - 1] = get((ids[i - 1], ids[i]), NO_MERGE)
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode treating special-token strings as plain text (tiktoken's `encode_ordinary`)."""
        try:
            return self._encode_text(text)
        except UnicodeEncodeError:
            # lone surrogates have no UTF-8 form: replace them with U+FFFD, as tiktoken does
            return self._encode_text(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    def _encode_text(self, text: str) -> list[int]:
        cache = self._cache
        if len(cache) > CACHE_LIMIT:
            cache.clear()
        chunks = self._split(text)
        for chunk in set(chunks).difference(cache):     # only chunks never seen before run BPE
            cache[chunk] = self._encode_chunk(chunk.encode("utf-8"))
        return list(chain.from_iterable(map(cache.__getitem__, chunks)))

    def encode(self, text: str, allowed_special: str | Iterable[str] = (),
               disallowed_special: str | Iterable[str] = "all") -> list[int]:
        """Encode text; special-token strings are handled as tiktoken does.

        By default a special token's text inside `text` is an error (it may come from a user, and
        silently turning it into a control token is a known injection). `allowed_special="all"` (or a
        set) encodes them as their ids; `disallowed_special=()` encodes them as ordinary text.
        """
        allowed = set(self._special) if allowed_special == "all" else set(allowed_special)
        disallowed = set(self._special) - allowed if disallowed_special == "all" else set(disallowed_special)
        if disallowed and self._special_regex is not None:
            for match in self._special_regex.finditer(text):
                if match.group() in disallowed:
                    token = match.group()
                    raise LabError(f"the text contains the special token {token!r}",
                                   hint=f"pass allowed_special={{{token!r}}} (or \"all\") to encode it as a "
                                        "special token, or disallowed_special=() to encode it as plain text")
        if not allowed or self._special_regex is None:
            return self.encode_ordinary(text)
        out: list[int] = []
        start = 0
        for match in self._special_regex.finditer(text):
            if match.group() in allowed:
                out.extend(self.encode_ordinary(text[start:match.start()]))
                out.append(self._special[match.group()])
                start = match.end()
        out.extend(self.encode_ordinary(text[start:]))
        return out

    def encode_batch(self, texts: list[str], num_workers: int | None = None,
                     allowed_special: str | Iterable[str] = (),
                     disallowed_special: str | Iterable[str] = "all") -> list[list[int]]:
        """Encode many texts. Past PARALLEL_MIN_CHARS of text (or with num_workers > 1) the texts are
        spread over worker processes, one per CPU core by default; the result keeps the input order."""
        texts = list(texts)
        total = sum(len(t) for t in texts)
        if num_workers is None:
            num_workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                              else os.cpu_count() or 1, 8) if total >= PARALLEL_MIN_CHARS else 1
        kwargs = {"allowed_special": allowed_special, "disallowed_special": disallowed_special}
        import multiprocessing as mp

        if num_workers <= 1 or len(texts) < 2 or mp.current_process().daemon:   # pool workers cannot fork
            return [self.encode(t, **kwargs) for t in texts]
        from llmlab.tokenizer.parallel import encode_in_workers

        return encode_in_workers(self, texts, num_workers, kwargs)

    # ---------------------------------------------------------------- decoding
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        vocab, n = self.vocab, len(self.vocab)
        try:
            return b"".join([vocab[i] if 0 <= i < n else self.token_bytes(i) for i in map(int, ids)])
        except TypeError:
            raise LabError("decode takes a list of integer token ids", hint="pass e.g. [72, 105]") from None

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Ids -> text. Ids that end inside a multi-byte character decode to U+FFFD, as in tiktoken and HF."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    # ---------------------------------------------------------------- files and exports
    def save(self, directory: str | Path) -> Path:
        """llmlab_tokenizer.json (pattern, merges, specials), llmlab_vocab.txt (to read), and the
        Hugging Face files (tokenizer.json, tokenizer_config.json), so AutoTokenizer loads the folder."""
        directory = Path(directory)
        self._write_meta(directory, {
            "pattern_name": self.pattern_name, "pattern": self.pattern,
            "special_tokens": self._special, "merges": [list(m) for m in self.merges],
            "merge_counts": self.merge_counts})
        made: dict[int, tuple[int, int]] = {}
        for a, b, new in self.merges:
            made.setdefault(new, (a, b))
        lines = [f"{i}\t{self.vocab[i]!r}" for i in range(256)]
        lines += [f"{i}\t{self.vocab[i]!r}\t= {made[i][0]} + {made[i][1]}" for i in range(256,
                                                                                          len(self.vocab))]
        lines += [f"{tid}\t{token!r}\t(special)" for token, tid in self._special.items()]
        (directory / "llmlab_vocab.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.to_hf().save_pretrained(str(directory))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> BPETokenizer:
        meta = read_meta(directory)
        if meta.get("kind") != cls.kind:
            raise LabError(f"{directory} holds a {meta.get('kind')!r} tokenizer, not a BPE one",
                           hint="use llmlab.tokenizer.load_tokenizer(dir), which loads any kind")
        specials = sorted(meta.get("special_tokens", {}).items(), key=lambda kv: kv[1])
        tok = cls(meta["merges"], meta["pattern"], [t for t, _ in specials], meta.get("merge_counts"))
        if tok.special_tokens != dict(specials):
            raise LabError(f"the special token ids in {directory} do not follow the learned tokens",
                           hint="the tokenizer files are damaged; train the tokenizer again")
        return tok

    def to_hf(self) -> Any:
        """A `transformers.PreTrainedTokenizerFast` with the same ids (see `export.hf_tokenizer`)."""
        from llmlab.tokenizer.export import hf_fast_tokenizer

        return hf_fast_tokenizer(self)

    def to_tiktoken(self, name: str | None = None) -> Any:
        """A `tiktoken.Encoding` built from the learned ranks (token bytes -> id) and the pattern."""
        from llmlab.tokenizer.export import tiktoken_encoding

        return tiktoken_encoding(self, name)

    def __getstate__(self) -> dict[str, Any]:   # for worker processes started with "spawn"
        return {"merges": self.merges, "pattern": self.pattern, "special": list(self._special),
                "counts": self.merge_counts}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["merges"], state["pattern"], state["special"], state["counts"])

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, pattern={self.pattern_name!r}, "
                f"special_tokens={list(self._special)})")
