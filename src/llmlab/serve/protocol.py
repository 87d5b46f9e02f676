"""The OpenAI request bodies the server accepts, and how each becomes `SamplingParams`.

Shapes (wrong types, missing fields) are checked by pydantic and answered 422; values (temperature out of
range, n too large, an empty message list, a prompt longer than the context) by `to_params`/`chat_prompt`,
answered 400 with the parameter named. Fields OpenAI has but this server does not implement are refused
when set, never silently ignored. Extensions as in vLLM: top_k, repetition_penalty, stop_token_ids, ignore_eos.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmlab.generation import SamplingParams
from llmlab.llm.chat_template import render_chat, uses_own_template

MAX_N = 16
MAX_STOPS = 8


class APIError(Exception):
    """An error answered as OpenAI does: {"error": {"message", "type", "param", "code"}} with an HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")   # unknown OpenAI fields (user, metadata, ...) change nothing here

    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    # extensions
    top_k: int | None = None
    repetition_penalty: float | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False

    def to_params(self, default_max_tokens: int, seed_offset: int = 0) -> SamplingParams:
        t = 1.0 if self.temperature is None else self.temperature
        p = 1.0 if self.top_p is None else self.top_p
        if not 0.0 <= t <= 2.0:
            raise APIError(400, f"temperature must be between 0 and 2, got {t}", "temperature")
        if not 0.0 < p <= 1.0:
            raise APIError(400, f"top_p must be in (0, 1], got {p}", "top_p")
        if not 1 <= self.n <= MAX_N:
            raise APIError(400, f"n must be between 1 and {MAX_N}, got {self.n}", "n")
        max_tokens = default_max_tokens if self.max_tokens is None else self.max_tokens
        if max_tokens < 1:
            raise APIError(400, f"max_tokens must be at least 1, got {max_tokens}", "max_tokens")
        top_k = self.top_k or 0
        if top_k < -1:
            raise APIError(400, f"top_k must be -1, 0 (off) or positive, got {top_k}", "top_k")
        rep = 1.0 if self.repetition_penalty is None else self.repetition_penalty
        if rep <= 0:
            raise APIError(400, f"repetition_penalty must be > 0, got {rep}", "repetition_penalty")
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise APIError(400, f"{name} is not supported by this server", name, "unsupported_parameter")
        if self.logit_bias:
            raise APIError(400, "logit_bias is not supported by this server", "logit_bias", "unsupported_parameter")
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOPS or any(not s for s in stops):
            raise APIError(400, f"stop takes 1 to {MAX_STOPS} non-empty strings", "stop")
        return SamplingParams(temperature=t, top_k=max(top_k, 0), top_p=p, repetition_penalty=rep,
                              max_new_tokens=max_tokens, stop=tuple(stops),
                              stop_token_ids=tuple(self.stop_token_ids or ()),
                              seed=None if self.seed is None else self.seed + seed_offset)


class CompletionRequest(_Sampling):
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool = False
    logprobs: int | None = None
    suffix: str | None = None
    best_of: int | None = None

    def prompts(self) -> list[str | list[int]]:
        p = self.prompt
        if isinstance(p, str):
            items = [p]
        elif p and all(isinstance(x, int) for x in p):
            items = [p]
        else:
            items = list(p)
        if not items or any(len(x) == 0 for x in items):
            raise APIError(400, "prompt is empty", "prompt")
        for name in ("echo", "logprobs", "suffix"):
            if getattr(self, name):
                raise APIError(400, f"{name} is not supported by this server", name, "unsupported_parameter")
        if self.best_of not in (None, 1, self.n):
            raise APIError(400, "best_of is not supported by this server", "best_of", "unsupported_parameter")
        return items


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatRequest(_Sampling):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    tools: list[Any] | None = None

    def check(self) -> None:
        if not self.messages:
            raise APIError(400, "messages is empty: send at least one message", "messages")
        if self.logprobs:
            raise APIError(400, "logprobs are not supported by this server", "logprobs", "unsupported_parameter")
        if self.tools:
            raise APIError(400, "tools are not supported by this server", "tools", "unsupported_parameter")
        if self.max_tokens is None and self.max_completion_tokens is not None:
            self.max_tokens = self.max_completion_tokens


def chat_prompt(tokenizer: Any, messages: list[ChatMessage]) -> list[int]:
    """Token ids of the conversation, rendered by llmlab.llm's one chat template function (the tokenizer's
    own template, whose text already holds its special tokens, or the default plain template)."""
    plain = [{"role": m.role, "content": m.text()} for m in messages]
    text = render_chat(tokenizer, plain)
    if uses_own_template(tokenizer):
        return list(tokenizer.encode(text, add_special_tokens=False))
    return list(tokenizer.encode(text))


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: dict[str, int] = Field(default_factory=lambda: {"cached_tokens": 0})
