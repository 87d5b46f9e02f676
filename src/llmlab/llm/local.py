"""What every backend that holds its own tokenizer shares: encoding (a chat template's text already carries
its special tokens, so it is encoded without adding them again), exact token counts, the context check.

A local backend implements `_generate_ids(prompt_ids, params)` and `context_window`; text and chat prompts
reach it as token ids, counted once.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence

from llmlab.generation import SamplingParams, StopChecker
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


def text_deltas(tokens: Iterable[int], checker: StopChecker, num_prompt: int) -> Iterator[Delta]:
    """A backend's token stream -> Deltas, ended by `checker` (llmlab.generation.stopping: stop tokens, stop
    strings, the budget), each Delta carrying the text the checker lets out (a possible stop string's start
    waits); the last one has the finish reason and the token counts."""
    for tok in tokens if checker.budget > 0 else ():
        if checker.add(tok):                # ended: never pull another token (llama.cpp's stream is endless)
            break
        text = checker.new_text()
        if text:
            yield Delta(text)
    else:                                   # the stream ran dry before the budget (or none was asked for)
        checker.finish()
    yield Delta(checker.new_text(final=True), checker.finish_reason, num_prompt, checker.count)
