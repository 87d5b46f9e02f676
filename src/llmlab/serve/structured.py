"""Constrained decoding: a grammar (from a JSON schema, or a Lark grammar for tool calls) becomes, at every
step, a mask of the tokens that keep the output inside the language; the batched sampler sets the others'
logits to -inf. The grammar engine is llguidance (see docs/serve.md for why: no dependencies, sub-ms
compiles, ~10 us per step, rollback for speculative decoding, and refusals that name the unsupported keyword).

    grammars = GrammarCompiler(tokenizer, vocab_size=50257)
    g = grammars.json_schema({"type": "object", "properties": {"n": {"type": "integer"}}})   # cached
    c = grammars.constraint(g)             # one request's state: c.fill(mask, row); c.advance(token)
    apply_masks(logits, mask)              # (B, V) logits, (B, ceil(V / 32)) int32 bitmask

A grammar is compiled once per distinct schema (the cache); each request gets its own matcher. Not
handled: JSON-schema keywords llguidance does not implement (`not`, `if`/`then`, `uniqueItems`, ...), which
are refused with their names; a tokenizer llguidance cannot read without an end-of-text token.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import torch

from llmlab.errors import LabError

ANY_JSON_OBJECT = {"type": "object"}     # response_format {"type": "json_object"}
# compact JSON, as json.dumps writes it: a flexible-whitespace grammar lets a weak model pad forever
JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
CACHE_SIZE = 256


class UnsupportedGrammarError(LabError):
    """A schema or grammar the engine cannot constrain to; the message names the parts at fault."""


def _lltokenizer(tokenizer: Any, vocab_size: int):
    import llguidance
    import llguidance.hf

    try:          # byte-level BPE, SentencePiece: llguidance reads the tokenizer.json itself
        return llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)
    except (ValueError, TypeError, AttributeError):
        pass
    if tokenizer.eos_token_id is None:
        raise LabError("constrained decoding needs a tokenizer with an end-of-text token",
                       hint="serve a model whose tokenizer names an eos_token")
    # any other tokenizer (llmlab's CharTokenizer): each id spelled by decoding it alone
    spell = [tokenizer.decode([i]).encode("utf-8") for i in range(len(tokenizer))]
    spell += [b""] * (vocab_size - len(spell))

    class Spelled:
        eos_token_id, bos_token_id, tokens = tokenizer.eos_token_id, None, spell
        special_token_ids = [tokenizer.eos_token_id]

        def __call__(self, s: str) -> list[int]:
            return list(tokenizer.encode(s, add_special_tokens=False))

    return llguidance.LLTokenizer(llguidance.TokenizerWrapper(Spelled()), n_vocab=vocab_size)


class GrammarCompiler:
    """Grammars checked once and cached by their text; matchers made per request."""

    def __init__(self, tokenizer: Any, vocab_size: int):
        try:
            import llguidance
        except ImportError:
            raise LabError("structured output needs the llguidance package",
                           hint="pip install 'llmlab[serve]'") from None
        self.ll = llguidance
        self.vocab_size = vocab_size
        self.tokenizer = _lltokenizer(tokenizer, vocab_size)
        self._check = lru_cache(CACHE_SIZE)(self._validate)
        self.compiled = 0                   # distinct grammars checked (the cache's misses)

    def json_schema(self, schema: dict | bool) -> str:
        """The grammar of JSON documents valid for `schema` (checked once per distinct schema)."""
        if schema is True:
            schema = {}
        if not isinstance(schema, dict):
            raise UnsupportedGrammarError("a JSON schema must be an object", hint="send {\"type\": ...}")
        text = json.dumps({**schema, "x-guidance": JSON_LAYOUT})     # key order kept: it is the output order
        return self._check(self.ll.LLMatcher.grammar_from_json_schema(text))

    def lark(self, grammar: str) -> str:
        return self._check(self.ll.LLMatcher.grammar_from_lark(grammar))

    def _validate(self, grammar: str) -> str:
        self.compiled += 1
        bad, messages = self.ll.LLMatcher.validate_grammar_with_warnings(grammar, self.tokenizer)
        if bad:
            raise UnsupportedGrammarError("; ".join(messages) or "the grammar does not compile",
                                          hint="remove the schema keywords named here")
        return grammar

    def constraint(self, grammar: str) -> Constraint:
        return Constraint(self.ll.LLMatcher(self.tokenizer, grammar))


class Constraint:
    """One request's position in its grammar."""

    def __init__(self, matcher):
        self.matcher = matcher

    def fill(self, mask: torch.Tensor, row: int) -> None:
        """Write the allowed next tokens into bit row `row` of `mask` (int32, CPU, contiguous)."""
        v = mask[row]
        self.matcher.unsafe_compute_mask_ptr(v.data_ptr(), v.numel() * v.element_size())

    def advance(self, token: int) -> None:
        if not self.matcher.consume_token(token):
            raise LabError(f"token {token} is outside the request's grammar: {self.matcher.get_error()}")

    def allows(self, token: int) -> bool:
        """Whether `token` may come next (speculative drafts are checked one by one with this)."""
        return self.matcher.validate_tokens([token]) == 1

    def rollback(self, n: int) -> None:
        if n:
            self.matcher.rollback(n)

    @property
    def done(self) -> bool:
        """The grammar admits nothing more (a JSON document's closing brace): the request stops."""
        return self.matcher.is_stopped()


def new_mask(rows: int, vocab_size: int) -> torch.Tensor:
    """(rows, ceil(V / 32)) int32, every bit set: a row left as it is allows every token."""
    return torch.full((rows, -(-vocab_size // 32)), -1, dtype=torch.int32)


BITS = torch.arange(32, dtype=torch.int32)


def apply_masks(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """logits (B, V) with every token whose bit is clear in mask (B, ceil(V / 32)) set to -inf."""
    allowed = ((mask.unsqueeze(-1) >> BITS) & 1).flatten(1)[:, :logits.shape[-1]].bool()    # (B, V)
    return logits.masked_fill(~allowed.to(logits.device), float("-inf"))
