"""What every backend that holds its own tokenizer shares: encoding (a chat template's text already carries
its special tokens, so it is encoded without adding them again), exact token counts, the context check.

A local backend implements `_generate_ids(prompt_ids, params)` and `context_window`; text and chat prompts
reach it as token ids, counted once.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence

from llmlab.generation import SamplingParams, find_stop, holdback
from llmlab.llm.base import LLM, Delta, Message, check_messages
from llmlab.tokenizer.chat_template import uses_own_template


class TokenizerLLM(LLM):
    tokenizer = None

    def encode(self, text: str, templated: bool = False) -> list[int]:
        if templated:
            return list(self.tokenizer.encode(text, add_special_tokens=False))
        return list(self.tokenizer.encode(text))

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def _chat_ids(self, messages: Sequence[Message]) -> list[int]:
        return self.encode(self.render_chat(messages), templated=uses_own_template(self.tokenizer))

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        return len(self._chat_ids(check_messages(messages)))

    def _generate(self, prompt: str, params: SamplingParams) -> Iterator[Delta]:
        return self._generate_ids(self.encode(prompt), params)

    def _generate_chat(self, messages: list[Message], params: SamplingParams) -> Iterator[Delta]:
        ids = self._chat_ids(messages)
        return self._generate_ids(ids, self.check_fits(len(ids), params))

    @abstractmethod
    def _generate_ids(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[Delta]:
        """Stream the continuation of `prompt_ids` (already checked to fit)."""


def text_deltas(tokens: Iterable[int], piece: Callable[[int], str], flush: Callable[[], str], params: SamplingParams,
                stop_ids: set[int], num_prompt: int) -> Iterator[Delta]:
    """A backend's token stream -> Deltas, with the stop rules every local backend shares: a stop token ends
    it (and counts as generated), a stop string cuts the text before it, and text that could be the start of
    a stop string is held back until it is known not to be. `piece(token)` is the incremental detokeniser's
    new text (empty while a character is incomplete); `flush()` what it still holds at the end."""
    text, sent, n_out, reason = "", 0, 0, "length"
    for tok in tokens if params.max_new_tokens > 0 else ():
        n_out += 1
        if tok in stop_ids:
            reason = "stop"
            break
        before = len(text)
        text += piece(tok)
        at = find_stop(text, params.stop, before) if params.stop else -1
        if at >= 0:
            text, reason = text[:at], "stop"
            break
        end = max(sent, len(text) - holdback(params.stop))     # a possible stop's start waits
        if end > sent:
            yield Delta(text[sent:end])
            sent = end
        if n_out == params.max_new_tokens:     # stop here: an endless stream (llama.cpp's) would run one more step
            break
    if reason == "length":
        before = len(text)
        text += flush()
        at = find_stop(text, params.stop, before) if params.stop else -1
        if at >= 0:
            text, reason = text[:at], "stop"
    yield Delta(text[sent:], reason, num_prompt, n_out)
