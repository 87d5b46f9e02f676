"""OpenAI tool calling over any model: tools into the prompt, tool calls back out of the generated text.

    text = render_tools(tokenizer, messages, tools)            # the model's own tool format, or the default
    grammar = tool_call_grammar(grammars, tools, "required")   # tool_choice required / named: constrained
    content, calls = parse_tool_calls('<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>')
    # -> None, [{"id": "call_...", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]

A tokenizer whose chat template takes `tools` (Qwen 2.5, Hermes, Llama 3.1 ...) renders them itself. Any
other gets the default format: a system message listing each function's JSON schema and asking for
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (the Hermes/Qwen convention, so one parser
serves both). Earlier assistant tool calls are written back in that form; `tool` messages as their role.
Not handled: formats without the tags (Mistral's [TOOL_CALLS], Llama's bare JSON) are parsed only when
the whole answer is one such JSON object; a forced (required/named) answer holds exactly one call.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from typing import Any

from llmlab.tokenizer.chat_template import render_chat

OPEN, CLOSE = "<tool_call>", "</tool_call>"
CALL = re.compile(re.escape(OPEN) + r"\s*(.*?)\s*" + re.escape(CLOSE), re.S)
DEFAULT_TOOL_PROMPT = (
    "You can call functions. To call one, answer with exactly\n"
    f'{OPEN}{{"name": <function name>, "arguments": <JSON object>}}{CLOSE}\n'
    "and nothing else. The functions, as JSON schemas:\n")


def own_tool_format(tokenizer: Any) -> bool:
    """The tokenizer's chat template renders `tools` itself (it names the variable)."""
    template = getattr(tokenizer, "chat_template", None)
    return isinstance(template, str) and "tools" in template


def render_tools(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict] | None) -> str:
    """The prompt text of a conversation that may carry tools, tool calls and tool results."""
    if own_tool_format(tokenizer):
        return tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=False,
                                             add_generation_prompt=True)
    plain = [{"role": m["role"], "content": _as_text(m)} for m in messages]
    if tools:
        listing = "\n".join(json.dumps(t["function"]) for t in tools)
        plain.insert(0, {"role": "system", "content": DEFAULT_TOOL_PROMPT + listing})
    return render_chat(tokenizer, plain)


def _as_text(message: dict[str, Any]) -> str:
    """A message's content, with an assistant's earlier tool calls written in the default format."""
    calls = "".join(f'{OPEN}{{"name": {json.dumps(c["function"]["name"])}, "arguments": '
                    f'{c["function"]["arguments"] or "{}"}}}{CLOSE}' for c in message.get("tool_calls") or ())
    return (message.get("content") or "") + calls


def call_schema(tool: dict) -> dict:
    """The JSON schema of one call to `tool`: its name, and arguments valid for its parameters."""
    fn = tool["function"]
    return {"type": "object", "properties": {"name": {"const": fn["name"]},
                                             "arguments": fn.get("parameters") or {"type": "object"}},
            "required": ["name", "arguments"], "additionalProperties": False}


def tool_call_grammar(grammars, tools: list[dict]) -> str:
    """A Lark grammar for exactly one tagged call to one of `tools` (required: all of them; named: one)."""
    from llmlab.serve.structured import JSON_LAYOUT

    schema = {"anyOf": [call_schema(t) for t in tools]} if len(tools) > 1 else call_schema(tools[0])
    call = json.dumps({**schema, "x-guidance": JSON_LAYOUT})
    return grammars.lark(f'start: "{OPEN}" call "{CLOSE}"\ncall: %json {call}')


def parse_tool_calls(text: str, names: Collection[str] | None = None) -> tuple[str | None, list[dict]]:
    """(content left outside the calls or None, the calls in OpenAI's shape). A call that is not a JSON
    object with a name (one of `names`, when given) stays in the content, so nothing the model wrote is
    lost."""
    calls, kept, end = [], [], 0
    for m in CALL.finditer(text):
        call = _call(m.group(1), names)
        if call is None:
            continue
        kept.append(text[end:m.start()])
        end = m.end()
        calls.append(call)
    kept.append(text[end:])
    if not calls:
        whole = _call(text.strip(), names) if text.strip().startswith("{") else None
        return (None, [whole]) if whole else (text, [])
    content = "".join(kept).strip()
    return content or None, calls


def _call(body: str, names: Collection[str] | None) -> dict[str, Any] | None:
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    if names is not None and obj["name"] not in names:
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    args = args if isinstance(args, str) else json.dumps(args)
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": obj["name"], "arguments": args}}


class ToolStream:
    """Streaming with tools: content goes out as it comes until a call may be starting (any suffix that could
    begin `<tool_call>`); from there the text is held, and the calls are parsed once the answer ends."""

    def __init__(self, names: Collection[str] | None = None):
        self.held, self.names = "", names
        self.in_call = False

    def feed(self, text: str) -> str:
        """The part of `text` that is surely content and may be streamed now."""
        if self.in_call:
            self.held += text
            return ""
        text = self.held + text
        at = text.find(OPEN)
        if at >= 0:
            self.in_call, self.held = True, text[at:]
            return text[:at]
        keep = next((k for k in range(min(len(OPEN) - 1, len(text)), 0, -1) if OPEN.startswith(text[-k:])), 0)
        self.held = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep]

    def finish(self) -> tuple[str | None, list[dict[str, Any]]]:
        """(the held content, the calls) at the end of the answer."""
        return parse_tool_calls(self.held, self.names) if self.held else (None, [])
