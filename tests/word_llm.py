"""A scripted `LLM` for tests of the logic above a model (context plans, sessions, the chat UI): one token per
whitespace-separated word, the context window the test chooses, and the answer's words from `answer(prompt)`,
streamed one word (plus a space) at a time up to max_new_tokens. It records every prompt and
SamplingParams."""

from collections.abc import Callable, Iterator

from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM, Delta


class WordLLM(LLM):
    name = "words"

    def __init__(self, window: int = 1000, answer: Callable[[str], list[str]] = lambda prompt: ["fine"]):
        self.window, self.answer = window, answer
        self.prompts: list[str] = []
        self.calls: list[SamplingParams] = []

    @property
    def context_window(self) -> int:
        return self.window

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _generate(self, prompt: str, params: SamplingParams) -> Iterator[Delta]:
        self.prompts.append(prompt)
        self.calls.append(params)
        words = self.answer(prompt)[: params.max_new_tokens]
        for w in words:
            yield Delta(w + " ")
        yield Delta("", "stop", self.count_tokens(prompt), len(words))
