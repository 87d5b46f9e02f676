"""What every backend that holds its own tokenizer shares: encoding (a chat template's text already carries
its special tokens, so it is encoded without adding them again), exact token counts, the context check.

A local backend implements `_generate_ids(prompt_ids, params)` and `context_window`; text and chat prompts
reach it as token ids, counted once.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence

from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM, Delta, Message, check_messages
from llmlab.llm.chat_template import uses_own_template


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
        self.check_fits(len(ids), params)
        return self._generate_ids(ids, params)

    @abstractmethod
    def _generate_ids(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[Delta]:
        """Stream the continuation of `prompt_ids` (already checked to fit)."""

    @property
    def eos_ids(self) -> tuple[int, ...]:
        eos = getattr(self.tokenizer, "eos_token_id", None)
        return tuple(eos) if isinstance(eos, list) else () if eos is None else (eos,)
