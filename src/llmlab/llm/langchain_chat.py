"""Any llmlab.llm model as a LangChain chat model (invoke, stream, batch and their async forms).

    from llmlab.llm.langchain_chat import LabChatModel
    chat = LabChatModel.from_spec("engine:runs/pretrain/tiny", temperature=0.0, max_new_tokens=64)
    chat.invoke("Hello").content;  for chunk in chat.stream("Hello"): print(chunk.content, end="")
    (prompt | chat | StrOutputParser()).invoke({...})        # inside any LangChain chain

Needs the optional extra: pip install 'llmlab[langchain]'. The sampling settings use the lab's names
(SamplingParams: temperature, top_k, top_p, max_new_tokens, seed); a call may override them as keyword
arguments (`chat.invoke(msgs, temperature=0.7)`) and `stop` works as in LangChain. Messages map onto the
lab's roles (system, human -> user, ai -> assistant, tool); content blocks other than text are refused.
Not here: tool binding and structured output (llmlab.llm's `chat_tools` belongs to the openai: backend only).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM, Message, check_messages

ROLE_OF = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}   # LangChain type -> ours
SAMPLING = {f.name for f in fields(SamplingParams)} - {"stop", "stop_token_ids"}


def lab_messages(messages: Sequence[BaseMessage]) -> list[Message]:
    """LangChain messages -> the lab's {"role", "content"} dicts (text content only)."""
    out = []
    for message in messages:
        role = ROLE_OF.get(message.type)
        if role is None:
            raise LabError(f"a {message.type!r} message has no llmlab role",
                           hint="use system, human, ai or tool messages")
        content = message.content
        if not isinstance(content, str):
            parts = [b if isinstance(b, str) else b.get("text") if b.get("type") == "text" else None
                     for b in content]
            if any(p is None for p in parts):
                raise LabError("llmlab models read text only; a message holds another kind of content",
                               hint="send text content blocks, or plain strings")
            content = "".join(parts)
        out.append({"role": role, "content": content})
    return check_messages(out)


class LabChatModel(BaseChatModel):
    """An llmlab.llm.LLM behind LangChain's chat-model interface."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: LLM
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    max_new_tokens: int = 128
    seed: int | None = None

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any] | None = None, **sampling: Any) -> LabChatModel:
        """Load a model by its llmlab spec (engine:, hf:, gguf:, openai:) with the backend's `options`."""
        from llmlab.llm.registry import load_llm

        return cls(llm=load_llm(spec, **(options or {})), **sampling)

    @property
    def _llm_type(self) -> str:
        return "llmlab"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.llm.name, **{name: getattr(self, name) for name in sorted(SAMPLING)}}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # tracing metadata only: a per-call `model` names the model, other non-sampling keys are not ours
        params = self._params(stop, {k: v for k, v in kwargs.items() if k in SAMPLING})
        return LangSmithParams(ls_provider="llmlab", ls_model_name=kwargs.get("model", self.llm.name),
                               ls_model_type="chat",
                               ls_temperature=params.temperature, ls_max_tokens=params.max_new_tokens,
                               ls_stop=list(params.stop) or None)

    def _params(self, stop: list[str] | None, overrides: dict[str, Any]) -> SamplingParams:
        unknown = set(overrides) - SAMPLING
        if unknown:
            raise LabError(f"unknown sampling setting(s): {', '.join(sorted(unknown))}",
                           hint="use " + ", ".join(sorted(SAMPLING)))
        chosen = {name: overrides.get(name, getattr(self, name)) for name in SAMPLING}
        return SamplingParams(**chosen, stop=tuple(stop or ()))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        done = self.llm.chat(lab_messages(messages), self._params(stop, kwargs))
        message = AIMessage(content=done.text, response_metadata=self._metadata(done.finish_reason),
                            usage_metadata=_usage(done.prompt_tokens, done.completion_tokens))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        # the backend's Deltas, not chat_stream's text: the last carries the finish reason and token counts
        deltas = self.llm._generate_chat(lab_messages(messages), self._params(stop, kwargs))
        for delta in deltas:
            last = delta.finish_reason is not None
            chunk = ChatGenerationChunk(message=AIMessageChunk(
                content=delta.text,
                response_metadata=self._metadata(delta.finish_reason) if last else {},
                usage_metadata=_usage(delta.prompt_tokens, delta.completion_tokens) if last else None,
                chunk_position="last" if last else None))
            if run_manager and delta.text:
                run_manager.on_llm_new_token(delta.text, chunk=chunk)
            yield chunk

    def _metadata(self, finish_reason: str | None) -> dict[str, Any]:
        return {"model_name": self.llm.name, "model_provider": "llmlab", "finish_reason": finish_reason}


def _usage(prompt_tokens: int, completion_tokens: int) -> UsageMetadata:
    return UsageMetadata(input_tokens=prompt_tokens, output_tokens=completion_tokens,
                         total_tokens=prompt_tokens + completion_tokens)
