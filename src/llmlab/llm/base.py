"""The one client interface for anything that generates text; chat, RAG, agents and experiments use only this.

    llm = load_llm("engine:runs/pretrain/tiny")            # or hf:gpt2, gguf:model.gguf,
    openai:http://host/v1 llm.complete("Once upon a time", SamplingParams(max_new_tokens=20)).text
    for piece in llm.chat_stream([{"role": "user", "content": "Hi"}]): print(piece, end="")
    llm.count_tokens("some text"), llm.context_window

A backend implements `_generate(prompt, params)` (a stream of `Delta`s, the last one carrying the finish
reason and token counts) and `count_tokens`; everything else — collecting, streaming text, chat through
the model's template, the context-window check with both numbers in the error — is written once, here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from llmlab.errors import ContextWindowError, LabError
from llmlab.generation import LENGTH, Completion, SamplingParams

Message = dict[str, str]            # {"role": "system" | "user" | "assistant" | "tool", "content": "..."}
ROLES = ("system", "user", "assistant", "tool")


@dataclass
class ToolReply:
    """An answer that may call functions (`LLM.chat_tools`): the text, and each call's id, name and JSON
    arguments as the model wrote them."""
    text: str
    tool_calls: list[dict[str, str]]     # [{"id": ..., "name": ..., "arguments": "{...}"}]
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ToolsUnsupported(LabError):
    """The backend (or the server behind it) has no native tool calls: use the ReAct text protocol."""


@dataclass
class Delta:
    """A piece of a streamed answer; the last one has `finish_reason` set and the token counts filled in."""
    text: str
    finish_reason: str | None = None     # on the last piece: one of llmlab.generation.FINISH_REASONS
    prompt_tokens: int = 0
    completion_tokens: int = 0


def check_messages(messages: Sequence[Message]) -> list[Message]:
    """Messages as plain {"role", "content"} dicts, or a LabError naming the bad one."""
    if not messages:
        raise LabError("the conversation is empty", hint='pass at least one {"role": "user", "content": ...}')
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise LabError(f"message {i} is not a {{'role', 'content'}} dict: {m!r}",
                           hint='write messages as {"role": "user", "content": "..."}')
        if m["role"] not in ROLES:
            raise LabError(f"message {i} has role {m['role']!r}", hint=f"use one of {', '.join(ROLES)}")
        if not isinstance(m["content"], str):
            raise LabError(f"message {i}'s content is {type(m['content']).__name__}, not text",
                           hint="put the message's text in 'content' as a string")
        out.append({"role": m["role"], "content": m["content"]})
    return out


class LLM(ABC):
    """Text in, text out. `name` says which backend and model (e.g. "engine:runs/pretrain/tiny")."""

    name: str = "llm"
    native_tools: bool = False      # whether chat_tools works: a server with OpenAI tool calling

    # ---- what a backend provides ----------------------------------------------------------------

    @property
    @abstractmethod
    def context_window(self) -> int:
        """How many tokens the prompt and the answer may hold together."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's tokenizer."""

    @abstractmethod
    def _generate(self, prompt: str, params: SamplingParams) -> Iterator[Delta]:
        """Stream the continuation of `prompt` (already checked to fit)."""

    def render_chat(self, messages: Sequence[Message]) -> str:
        """The prompt text a conversation becomes (the model's chat template, or the default one)."""
        from llmlab.tokenizer.chat_template import render_chat

        return render_chat(getattr(self, "tokenizer", None), messages)

    def _generate_chat(self, messages: list[Message], params: SamplingParams) -> Iterator[Delta]:
        """Local backends render the conversation and continue it; a server backend overrides this."""
        prompt = self.render_chat(messages)
        return self._generate(prompt, self.check_fits(self.count_tokens(prompt), params))

    def chat_tools(self, messages: Sequence[dict], tools: Sequence[dict],
                   params: SamplingParams | None = None,
                   tool_choice: str | dict = "auto") -> ToolReply:
        """The assistant's next message given OpenAI-format `tools`; it may call some of them."""
        raise ToolsUnsupported(f"{self.name} has no native tool calls",
                               hint="describe the tools in the prompt (the agent's ReAct protocol does)")

    def close(self) -> None:
        """Free what the backend holds (a model, a connection); most backends hold nothing to free."""
        return None

    # ---- the interface, written once ------------------------------------------------------------

    def answer_budget(self, max_new_tokens: int) -> int:
        """The answer length to plan a prompt around: max_new_tokens, or a quarter of the window when it would
        leave the prompt less than half (a 256-token default in a 128-token window), said once on stderr."""
        window = self.context_window
        if max_new_tokens <= window // 2:
            return max_new_tokens
        scaled = max(1, window // 4)
        self._say_once(("plan", max_new_tokens),
                       f"{max_new_tokens} answer tokens leave too little of {self.name}'s {window}-token "
                       f"window "
                         f"for the prompt: answering in at most {scaled} (set max_new_tokens to choose)")
        return scaled

    def check_fits(self, prompt_tokens: int, params: SamplingParams) -> SamplingParams:
        """`params` with max_new_tokens cut to what is left beside the prompt (and said so); a
        ContextWindowError when the prompt alone leaves no room for even one token."""
        total = prompt_tokens + params.max_new_tokens
        if total <= self.context_window:
            return params
        room = self.context_window - prompt_tokens
        if room < 1:
            raise ContextWindowError(
                f"{self.name}'s context window is {self.context_window} tokens, but {total} were asked for "
                f"({prompt_tokens} in the prompt, {params.max_new_tokens} to generate)",
                hint="shorten the prompt (or the conversation) or use a model with a longer context")
        self._say_once(("cut", params.max_new_tokens),
                       f"the {prompt_tokens}-token prompt leaves {room} of {self.name}'s "
                       f"{self.context_window}-token "
                         f"window: answering in at most {room} tokens instead of {params.max_new_tokens}")
        from dataclasses import replace

        return replace(params, max_new_tokens=room)

    def _say_once(self, key: tuple, message: str) -> None:
        """Tell the user an answer budget was scaled down, once per kind and requested length for this model
        (an agent's every step would otherwise repeat it)."""
        said = self.__dict__.setdefault("_said", set())
        if key not in said:
            said.add(key)
            from llmlab.console import err_console

            err_console.print(f"note: {message}", markup=False, highlight=False, soft_wrap=True)

    def stream(self, prompt: str, params: SamplingParams | None = None) -> Iterator[str]:
        """The continuation of `prompt`, piece by piece as it is generated."""
        params = self.check_fits(self.count_tokens(prompt), params or SamplingParams())
        for delta in self._generate(prompt, params):
            if delta.text:
                yield delta.text

    def complete(self, prompt: str, params: SamplingParams | None = None) -> Completion:
        params = self.check_fits(self.count_tokens(prompt), params or SamplingParams())
        return _collect(self._generate(prompt, params))

    def chat(self, messages: Sequence[Message], params: SamplingParams | None = None) -> Completion:
        """The assistant's next message."""
        return _collect(self._generate_chat(check_messages(messages), params or SamplingParams()))

    def chat_stream(self, messages: Sequence[Message], params: SamplingParams | None = None) -> Iterator[str]:
        for delta in self._generate_chat(check_messages(messages), params or SamplingParams()):
            if delta.text:
                yield delta.text

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the rendered conversation takes, with the cue for the assistant's turn."""
        return self.count_tokens(self.render_chat(check_messages(messages)))

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} context_window={self.context_window}>"


def _collect(deltas: Iterator[Delta]) -> Completion:
    parts, last = [], Delta("", LENGTH)
    for delta in deltas:
        parts.append(delta.text)
        last = delta
    return Completion("".join(parts), last.finish_reason or LENGTH, last.prompt_tokens,
                      last.completion_tokens)
