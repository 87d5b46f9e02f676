"""When a generation stops, and why: the one rule every decoder in llmlab follows (`generate`, the serving
engine, the hf: / gguf: / engine: backends), with OpenAI's finish reasons.

    checker = StopChecker(params, eos_token_ids(tokenizer, model.config), piece=detok.step, flush=detok.flush)
    for token in tokens:
        if checker.add(token):               # "stop" or "length"
            break
        send(checker.new_text())             # what can be shown now (a possible stop string's start waits)

The rules, in the order they are checked after each generated token:
- a stop token (`params.stop_token_ids` plus the model's EOS set) ends it with "stop"; the token counts as
  generated, its text is not part of the answer;
- a stop string ends it with "stop"; the text is cut where the stop string begins (one split across two
  tokens is found too: `find_stop` looks back by the longest stop's length);
- the token budget (`params.max_new_tokens`, or less when the context has less room) ends it with "length";
  the detokeniser's held-back bytes are flushed first, and a stop string completed by them still cuts.
The engine adds "abort" (the caller left) and "error" (this request's step raised). torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llmlab.generation.params import SamplingParams

STOP, LENGTH = "stop", "length"                   # OpenAI's finish reasons
FINISH_REASONS = (STOP, LENGTH, "abort", "error")


def eos_token_ids(*sources) -> frozenset[int]:
    """The model's EOS set: the union of `eos_token_id` over `sources` (its tokenizer, its config, ...), each
    an id, a list of ids, or missing. A union, because the two often disagree (Llama 3 Instruct's config
    lists <|eot_id|> beside <|end_of_text|>), and a model must stop the same under every backend.

        eos_token_ids(tokenizer, model.config)  ->  frozenset({2, 32000})
    """
    ids: set[int] = set()
    for source in sources:
        eos = getattr(source, "eos_token_id", None)
        ids.update(int(i) for i in (eos if isinstance(eos, list | tuple) else [eos]) if i is not None)
    return frozenset(ids)


def find_stop(text: str, stops: Sequence[str], start: int = 0) -> int:
    """Where the earliest stop string begins in `text`, or -1; the search starts at `start` minus the longest
    stop, so a stop that straddles the old end of the text is still found."""
    if not stops:
        return -1
    begin = max(0, start - max(len(s) for s in stops) + 1)
    hits = [i for i in (text.find(s, begin) for s in stops if s) if i >= 0]
    return min(hits) if hits else -1


def holdback(stops: Sequence[str]) -> int:
    """How many trailing characters a stream must hold back: they may start a stop string."""
    return max((len(s) for s in stops), default=1) - 1 if stops else 0


class StopChecker:
    """One sequence's finish rules, fed one generated token at a time (see the module's docstring).

    `piece(token)` is the new text a token adds (an incremental detokeniser's step; "" while a character is
    incomplete) and `flush()` what the detokeniser still holds at the end; without `piece` only tokens are
    watched (no stop strings, `text` stays ""). `limit` caps the budget below max_new_tokens (the room the
    context has left)."""

    def __init__(self, params: SamplingParams, eos_ids: frozenset[int] | set[int] = frozenset(),
                 piece: Callable[[int], str] | None = None, flush: Callable[[], str] | None = None,
                 limit: int | None = None):
        self.stop_ids = frozenset(params.stop_token_ids) | frozenset(eos_ids)
        self.stops = params.stop
        self.budget = params.max_new_tokens if limit is None else min(params.max_new_tokens, limit)
        self.piece, self.flush = piece, flush
        self.text = ""                   # the answer so far, cut before a stop string
        self.sent = 0                    # characters of `text` already handed out by new_text()
        self.count = 0                   # tokens generated (a stop token included)
        self.finish_reason: str | None = None
        self.cut = False                 # True when a stop string ended it (the text was cut)

    def add(self, token: int) -> str | None:
        """Take one generated token; the finish reason once the sequence has ended, else None."""
        self.count += 1
        if token in self.stop_ids:
            return self._end(STOP)
        if self.piece is not None and self._grow(self.piece(token)):
            return self._end(STOP)
        if self.count >= self.budget:
            return self.finish()
        return None

    def finish(self) -> str:
        """End on the budget (or a token stream that ran dry): flush the detokeniser, then "length" unless
        the flushed text completes a stop string."""
        if self.flush is not None and self._grow(self.flush()):
            return self._end(STOP)
        return self._end(LENGTH)

    def new_text(self, final: bool = False) -> str:
        """Text not handed out yet that may be shown now: all of it once finished (or `final`), else all but
        the last holdback(stops) characters, which could be the start of a stop string."""
        if final or self.finish_reason is not None:
            end = len(self.text)
        else:
            end = max(self.sent, len(self.text) - holdback(self.stops))
        out, self.sent = self.text[self.sent:end], end
        return out

    def _grow(self, piece: str) -> bool:
        """Append `piece`; True (and the text cut) when a stop string now appears."""
        before = len(self.text)
        self.text += piece
        at = find_stop(self.text, self.stops, before) if self.stops else -1
        if at < 0:
            return False
        self.text, self.cut = self.text[:at], True
        return True

    def _end(self, reason: str) -> str:
        self.finish_reason = reason
        return reason
