"""`Completion`: one finished answer, as every generator in llmlab hands it back (`LLM.complete` / `chat`,
`Engine.generate`).

    done = llm.complete("Once upon a time", SamplingParams(max_new_tokens=20))
    done.text, done.finish_reason, done.prompt_tokens, done.completion_tokens

`finish_reason` is one of stopping.FINISH_REASONS ("stop", "length"; the engine also "abort", "error").
The serving engine fills in the ids and its cache figures too; a backend that never sees them leaves them
empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    prompt_ids: list[int] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)      # generated ids (a stop token included)
    request_id: str = ""
    cached_tokens: int = 0                                   # prompt tokens served from the prefix cache
    ttft: float | None = None                                # seconds from arrival to the first token
