"""`openai:<base url>` — any OpenAI-compatible server: `llmlab serve`, vLLM, llama.cpp's server, OpenAI
itself.

    llm = load_llm("openai:http://127.0.0.1:8000/v1")                       # the server's first model
    llm = load_llm("openai:https://api.openai.com/v1", model="gpt-4o-mini", context_window=128000)

The key comes from `api_key=` or $OPENAI_API_KEY. The context window is read from /v1/models when the
server says it (llmlab and vLLM do: `max_model_len`), else pass `context_window=`. Token counts before a
request need the model's tokenizer (`tokenizer="gpt2"` or a directory); without one they are estimated as
one token per 3 bytes (`exact_counts` is False) and the server has the last word. top_k, repetition_penalty
and stop_token_ids travel as extensions that llmlab's server and vLLM read. `chat_tools` uses the server's
native tool calling (OpenAI `tools`); a server that refuses them turns `native_tools` off for good.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM, Delta, Message, ToolReply, ToolsUnsupported

BYTES_PER_TOKEN_ESTIMATE = 3      # BPE vocabularies average 3.5-4.5 bytes a token on English; 3 errs long


class OpenAILLM(LLM):
    native_tools = True             # until the server refuses `tools` (then the agent falls back to ReAct)

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 context_window: int | None = None, tokenizer: str | None = None, timeout: float = 60.0):
        import openai

        self._openai = openai
        self.client = openai.OpenAI(base_url=base_url,
                                    api_key=api_key or os.environ.get("OPENAI_API_KEY") or "none",
                                    timeout=timeout, max_retries=0)
        entry = None
        if model is None or context_window is None:
            entry = self._model_entry(base_url, model)
        self.model = model or entry["id"]
        window = context_window or (entry or {}).get("max_model_len")
        if not window:
            raise LabError(f"{base_url} does not say model {self.model!r}'s context window",
                           hint="pass context_window=N (the model's context length in tokens)")
        self._window = int(window)
        self.tokenizer = None
        if tokenizer:
            from llmlab.hub import load_hf_tokenizer

            self.tokenizer = load_hf_tokenizer(tokenizer)
        self.exact_counts = self.tokenizer is not None
        self.name = f"openai:{base_url}#{self.model}"

    def _model_entry(self, base_url: str, model: str | None) -> dict:
        try:
            entries = [m.model_dump() for m in self.client.models.list()]
        except self._openai.APIConnectionError:
            raise LabError(f"no OpenAI-compatible server answers at {base_url}",
                           hint="start one (llmlab serve --model DIR) or check the URL, which ends in "
                                "/v1") from None
        except self._openai.APIStatusError as exc:
            raise LabError(f"{base_url}/models answered {exc.status_code}: {exc.message}",
                           hint="check the API key (api_key= or $OPENAI_API_KEY)") from None
        if not entries:
            raise LabError(f"{base_url} serves no models", hint="start the server with a model")
        for e in entries:
            if model is None or e["id"] == model:
                return e
        raise LabError(f"{base_url} does not serve {model!r}",
                       hint="it serves: " + ", ".join(e["id"] for e in entries))

    @property
    def context_window(self) -> int:
        return self._window

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text))
        return math.ceil(len(text.encode()) / BYTES_PER_TOKEN_ESTIMATE)

    def _request(self, params: SamplingParams) -> dict:
        extra = {}
        if params.top_k:
            extra["top_k"] = params.top_k
        if params.repetition_penalty != 1.0:
            extra["repetition_penalty"] = params.repetition_penalty
        if params.stop_token_ids:
            extra["stop_token_ids"] = list(params.stop_token_ids)
        args = dict(model=self.model, max_tokens=params.max_new_tokens, temperature=params.temperature,
                    top_p=params.top_p, stream=True, stream_options={"include_usage": True})
        if params.stop:
            args["stop"] = list(params.stop)
        if params.seed is not None:
            args["seed"] = params.seed
        if extra:
            args["extra_body"] = extra
        return args

    def _consume(self, stream, piece) -> Iterator[Delta]:
        reason, usage = None, None
        try:
            for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    text = piece(choice)
                    if text:
                        yield Delta(text)
                    reason = choice.finish_reason or reason
        except self._openai.APIError as exc:      # the server went away or failed in the middle of the answer
            raise LabError(f"{self.name} stopped in the middle of the answer: {exc.message}",
                           hint="is the server still running? what arrived so far is kept") from None
        finally:
            # a reader that stops early closes the connection: the server aborts
            stream.close()
        yield Delta("", reason or "length", getattr(usage, "prompt_tokens", 0), getattr(usage,
                                                                                        "completion_tokens",
                                                                                        0))

    def _call(self, create, **args):
        try:
            return create(**args)
        except self._openai.BadRequestError as exc:
            raise self._refused(exc) from None
        except self._openai.APIConnectionError:
            raise LabError(f"lost the connection to {self.name}",
                           hint="is the server still running?") from None

    def _refused(self, exc) -> LabError:
        body = exc.body if isinstance(exc.body, dict) else {}
        message = (body.get("error") or body).get("message") if isinstance(body, dict) else None
        return LabError(f"{self.name} refused the request: {message or exc.message}",
                        hint="shorten the prompt or change the parameters it names")

    def _generate(self, prompt: str, params: SamplingParams) -> Iterator[Delta]:
        stream = self._call(self.client.completions.create, prompt=prompt, **self._request(params))
        return self._consume(stream, lambda choice: choice.text)

    def _generate_chat(self, messages: list[Message], params: SamplingParams) -> Iterator[Delta]:
        # the server applies the model's own chat template; check_fits ignores a count that is only a guess
        params = self.check_fits(self.count_chat_tokens(messages), params)
        stream = self._call(self.client.chat.completions.create, messages=messages, **self._request(params))
        return self._consume(stream, lambda choice: choice.delta.content)

    def chat_tools(self, messages, tools, params: SamplingParams | None = None,
                   tool_choice: str | dict = "auto") -> ToolReply:
        args = self._request(params or SamplingParams())
        args.update(stream=False)
        args.pop("stream_options")
        try:
            out = self.client.chat.completions.create(messages=list(messages), tools=list(tools),
                                                      tool_choice=tool_choice, **args)
        except self._openai.BadRequestError as exc:
            if "tool" in str(exc.message).lower():      # "tools are not supported", vLLM's auto-choice flag
                self.native_tools = False
                raise ToolsUnsupported(f"{self.name} has no native tool calls: {exc.message}",
                                       hint="the ReAct text protocol works with any server") from None
            raise self._refused(exc) from None
        except self._openai.APIConnectionError:
            raise LabError(f"lost the connection to {self.name}",
                           hint="is the server still running?") from None
        choice, usage = out.choices[0], out.usage
        calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                 for c in choice.message.tool_calls or ()]
        return ToolReply(choice.message.content or "", calls, choice.finish_reason or "stop",
                         getattr(usage, "prompt_tokens", 0), getattr(usage, "completion_tokens", 0))

    def check_fits(self, prompt_tokens: int, params: SamplingParams) -> SamplingParams:
        if self.exact_counts:
            return super().check_fits(prompt_tokens, params)
        # an estimate could refuse a prompt that fits; the server checks exactly and its refusal is passed on
        return params

    def close(self) -> None:
        self.client.close()
