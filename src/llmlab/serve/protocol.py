"""The OpenAI request bodies the server accepts, and how each becomes `SamplingParams`.

Shapes (wrong types, missing fields) are checked by pydantic and answered 422; values (temperature out of
range, n too large, an empty message list, a prompt longer than the context) by `to_params`/`chat_prompt`,
answered 400 with the parameter named. Fields OpenAI has but this server does not implement are refused
when set, never silently ignored. Extensions as in vLLM: top_k, repetition_penalty, stop_token_ids,
ignore_eos. `response_format` (json_object, json_schema) and chat `tools` / `tool_choice` become a
grammar (`grammar_for`).

Every number is bounded here, before the engine sees it: one request's NaN penalty, 1e-40 temperature
or 2**70 top_k would otherwise overflow inside the batched sampler and fail every request that shares
its step.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmlab.generation import SamplingParams
from llmlab.serve.tools import own_tool_format, render_tools, tool_call_grammar
from llmlab.tokenizer.chat_template import uses_own_template

MAX_N = 16
MAX_STOPS = 8
MAX_STOP_TOKEN_IDS = 64
MIN_TEMPERATURE = 0.01          # z / T stays finite in float32 for any ordinary logit; 0 means greedy
REPETITION_PENALTY_RANGE = (0.01, 100.0)
SEED_RANGE = (-(2**63), 2**63 - 1)   # OpenAI's int64; torch.Generator takes any of them (plus n - 1)


class APIError(Exception):
    """An error answered as OpenAI does: {"error": {"message", "type", "param", "code"}} with an HTTP
    status."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def json(self) -> bytes:
        """The body as JSON, ASCII-escaped: a message may quote what a client sent, lone surrogates
        included."""
        return json.dumps(self.body()).encode()


class StreamOptions(BaseModel):
    include_usage: bool = False


class JSONSchemaFormat(BaseModel):
    name: str = "response"
    schema_: dict[str, Any] | bool = Field(default_factory=dict, alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")   # unknown OpenAI fields (user, metadata, ...) change nothing

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
    response_format: ResponseFormat | None = None

    def schema(self) -> dict | bool | None:
        """The JSON schema the answer must follow, or None for free text."""
        rf = self.response_format
        if rf is None or rf.type == "text":
            return None
        if rf.type == "json_object":
            return {"type": "object"}
        if rf.json_schema is None:
            raise APIError(400, "response_format of type json_schema needs a json_schema object",
                           "response_format.json_schema")
        return rf.json_schema.schema_

    def to_params(self, default_max_tokens: int, seed_offset: int = 0,
                  vocab_size: int | None = None) -> SamplingParams:
        """The request's SamplingParams, every value checked; top_k is clamped to the vocabulary."""
        t = _finite("temperature", 1.0 if self.temperature is None else self.temperature)
        p = _finite("top_p", 1.0 if self.top_p is None else self.top_p)
        if not (t == 0.0 or MIN_TEMPERATURE <= t <= 2.0):
            raise APIError(400, f"temperature must be 0 (greedy) or between {MIN_TEMPERATURE} and 2, got {t}",
                           "temperature")
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
        if vocab_size is not None and top_k >= vocab_size:
            top_k = 0                                    # keeping every token is no filter at all
        rep = _finite("repetition_penalty",
                      1.0 if self.repetition_penalty is None else self.repetition_penalty)
        lo, hi = REPETITION_PENALTY_RANGE
        if not lo <= rep <= hi:
            raise APIError(400, f"repetition_penalty must be between {lo} and {hi} (1 is off), got {rep}",
                           "repetition_penalty")
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise APIError(400, f"{name} is not supported by this server", name, "unsupported_parameter")
        if self.logit_bias:
            raise APIError(400, "logit_bias is not supported by this server", "logit_bias",
                           "unsupported_parameter")
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOPS or any(not s for s in stops):
            raise APIError(400, f"stop takes 1 to {MAX_STOPS} non-empty strings", "stop")
        stop_ids = list(self.stop_token_ids or ())
        if len(stop_ids) > MAX_STOP_TOKEN_IDS:
            raise APIError(400, f"stop_token_ids takes at most {MAX_STOP_TOKEN_IDS} ids", "stop_token_ids")
        if vocab_size is not None and any(not 0 <= i < vocab_size for i in stop_ids):
            raise APIError(400, f"stop_token_ids must lie in [0, {vocab_size})", "stop_token_ids")
        if self.seed is not None and not SEED_RANGE[0] <= self.seed <= SEED_RANGE[1]:
            raise APIError(400, f"seed must be a 64-bit signed integer, got {self.seed}", "seed")
        return SamplingParams(temperature=t, top_k=max(top_k, 0), top_p=p, repetition_penalty=rep,
                              max_new_tokens=max_tokens, stop=tuple(stops), stop_token_ids=tuple(stop_ids),
                              seed=None if self.seed is None else self.seed + seed_offset)


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise APIError(400, f"{name} must be a finite number, got {value}", name)
    return value


def check_text(text: str, param: str, max_chars: int | None = None) -> None:
    """Refuse text no tokenizer can take (a lone surrogate such as "\\ud800" is not Unicode text) and text so
    long that it cannot fit the context whatever it tokenises to (checked before tokenising, which would
    take seconds)."""
    if max_chars is not None and len(text) > max_chars:
        raise APIError(400, f"the {param} has {len(text)} characters, more than this model's context can "
                       f"hold in any tokenisation (at most {max_chars}); shorten it", param,
                       "context_length_exceeded")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise APIError(400, f"the {param} holds a lone surrogate ({text[exc.start]!a} at character "
                       f"{exc.start}), which is not valid Unicode text; send UTF-8", param) from None


class CompletionRequest(_Sampling):
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool = False
    logprobs: int | None = None
    suffix: str | None = None
    best_of: int | None = None

    def prompts(self, max_chars: int | None = None) -> list[str | list[int]]:
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
        for x in items:
            if isinstance(x, str):
                check_text(x, "prompt", max_chars)
        return items


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class FunctionCall(BaseModel):
    name: str
    arguments: str = "{}"


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Function(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(BaseModel):
    type: Literal["function"]
    function: Function


class ToolName(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: ToolName


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None      # an assistant's earlier calls
    tool_call_id: str | None = None               # a tool message answers this call

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatRequest(_Sampling):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None       # a forced call is always one call; auto may give several

    def check(self, max_chars: int | None = None) -> None:
        if not self.messages:
            raise APIError(400, "messages is empty: send at least one message", "messages")
        for i, m in enumerate(self.messages):
            if m.content is None and not (m.role == "assistant" and m.tool_calls):
                raise APIError(400, f"messages[{i}] has no content: every message needs one (or, from the "
                               "assistant, tool_calls)", f"messages.{i}.content")
            check_text(m.text(), f"messages.{i}.content")
        if max_chars is not None:         # the rendered template only adds characters to the contents
            check_text("".join(m.text() for m in self.messages), "messages", max_chars)
        if self.logprobs:
            raise APIError(400, "logprobs are not supported by this server", "logprobs",
                           "unsupported_parameter")
        choice = self.tool_choice
        if choice not in (None, "none", "auto") and not self.tools:
            raise APIError(400, "tool_choice needs tools: send the functions the model may call",
                           "tool_choice")
        if isinstance(choice, NamedToolChoice) and choice.function.name not in self.tool_names():
            raise APIError(400, f"tool_choice names {choice.function.name!r}, which is not among the tools "
                           f"({', '.join(self.tool_names())})", "tool_choice")
        if self.active_tools() and self.schema() is not None:
            raise APIError(400, "response_format cannot be combined with tools; send one or the other",
                           "response_format")
        if self.max_tokens is None and self.max_completion_tokens is not None:
            self.max_tokens = self.max_completion_tokens


    def tool_names(self) -> list[str]:
        return [t.function.name for t in self.tools or ()]

    def active_tools(self) -> list[dict[str, Any]]:
        """The tools the model is shown (none when tool_choice is "none")."""
        if not self.tools or self.tool_choice == "none":
            return []
        return [t.model_dump(exclude_none=True) for t in self.tools]

    def forced_tools(self) -> list[dict[str, Any]]:
        """The tools one of which must be called (required: any; named: that one); [] when the model
        chooses."""
        tools, choice = self.active_tools(), self.tool_choice
        if choice == "required":
            return tools
        if isinstance(choice, NamedToolChoice):
            return [t for t in tools if t["function"]["name"] == choice.function.name]
        return []


def grammar_for(engine: Any, body: _Sampling) -> str | None:
    """The grammar that constrains this request (a JSON schema, or a forced tool call), compiled once per
    schema by the engine's cache; an unsupported schema is a 400 that names what is not supported."""
    from llmlab.serve.structured import UnsupportedGrammarError

    forced = body.forced_tools() if isinstance(body, ChatRequest) else []
    schema = body.schema()
    if schema is None and not forced:
        return None
    param = "tools" if forced else "response_format"
    try:
        return tool_call_grammar(engine.grammars, forced) if forced else engine.grammars.json_schema(schema)
    except UnsupportedGrammarError as exc:
        raise APIError(400, f"unsupported {'tool parameters' if forced else 'JSON schema'}: {exc}", param,
                       "unsupported_schema") from None


def max_prompt_chars(tokenizer: Any, max_model_len: int) -> int | None:
    """Characters beyond which a text cannot fit `max_model_len` tokens however it tokenises: no token
    covers more characters than its vocabulary entry spells (a byte-level entry spells one character per
    byte), and the factor 2 leaves room for normalisers that compose characters (e + U+0301 -> é). None
    if the vocabulary is not readable."""
    try:
        longest = max(len(t) for t in tokenizer.get_vocab())
    except (AttributeError, TypeError, ValueError):    # no readable vocabulary: no early length check
        return None
    return max_model_len * max(longest, 1) * 2


def chat_prompt(tokenizer: Any, messages: list[ChatMessage], tools: list[dict] | None = None) -> list[int]:
    """Token ids of the conversation, rendered by llmlab.llm's one chat template function (the tokenizer's
    own template, whose text already holds its special tokens, or the default plain template); tools,
    tool calls and tool results through serve.tools (the template's own tool format, or the default one)."""
    plain = []
    for m in messages:
        d: dict[str, Any] = {"role": m.role, "content": m.text()}
        if m.tool_calls:
            d["tool_calls"] = [c.model_dump() for c in m.tool_calls]
            if own_tool_format(tokenizer):     # Hugging Face templates take the arguments as a mapping
                for c in d["tool_calls"]:
                    c["function"]["arguments"] = _json_or_text(c["function"]["arguments"])
        if m.tool_call_id:
            d["tool_call_id"] = m.tool_call_id
        plain.append(d)
    text = render_tools(tokenizer, plain, tools)
    if uses_own_template(tokenizer):
        return list(tokenizer.encode(text, add_special_tokens=False))
    return list(tokenizer.encode(text))


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: dict[str, int] = Field(default_factory=lambda: {"cached_tokens": 0})
