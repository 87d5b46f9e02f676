"""`SamplingParams`: how one request wants its tokens chosen. Shared by the char LM, the NumPy model,
the serving engine, the API and the chat UI.

temperature 0 means greedy; top_k 0 and top_p 1.0 mean "off"; repetition_penalty 1.0 means "off"
(the CTRL paper's penalty, as transformers applies it).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmlab.errors import LabError


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()            # stop strings: generation ends before the first one
    stop_token_ids: tuple[int, ...] = ()  # e.g. the EOS id
    seed: int | None = None

    def __post_init__(self) -> None:
        # tuples, so a params object can be hashed and shared between requests
        object.__setattr__(self, "stop", tuple([self.stop] if isinstance(self.stop, str) else self.stop))
        object.__setattr__(self, "stop_token_ids", tuple(int(t) for t in self.stop_token_ids))
        self.validate()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def validate(self) -> None:
        if not self.temperature >= 0.0:
            raise LabError(f"temperature must be >= 0, got {self.temperature}",
                           hint="use 0 for greedy, ~0.7-1.0 to sample")
        if self.top_k < 0:
            raise LabError(f"top_k must be >= 0, got {self.top_k}", hint="use 0 to turn top-k off")
        if not 0.0 < self.top_p <= 1.0:
            raise LabError(f"top_p must be in (0, 1], got {self.top_p}",
                           hint="use 1.0 to turn nucleus sampling off")
        if not self.repetition_penalty > 0.0:
            raise LabError(f"repetition_penalty must be > 0, got {self.repetition_penalty}",
                           hint="use 1.0 for none")
        if self.max_new_tokens < 0:
            raise LabError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}",
                           hint="ask for a positive number")
