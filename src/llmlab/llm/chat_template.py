"""A conversation -> the prompt text a causal LM continues: the tokenizer's own chat template when it has
one, else llmlab's default plain template, which any tokenizer (and any base model) can take.

    render_chat(tokenizer, [{"role": "user", "content": "Hi"}])
    # default template: "user: Hi\nassistant:"

The serving API and every `llmlab.llm` backend render through this one function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_CHAT_TEMPLATE = "{role}: {content}\n"   # one line per message, then the cue "assistant:"
ASSISTANT_CUE = "assistant:"


def render_chat(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        from jinja2.exceptions import TemplateError

        try:
            return tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
        except TemplateError as exc:        # the template's own raise_exception(...): it rejects this conversation
            from llmlab.errors import LabError

            roles = " -> ".join(m["role"] for m in plain)
            raise LabError(f"the model's chat template refused the conversation ({roles}): {exc}",
                           hint="many templates take no system message or need user/assistant turns to "
                                "alternate; drop the system prompt (--system '') or reorder the messages") from None
    return "".join(DEFAULT_CHAT_TEMPLATE.format(**m) for m in plain) + ASSISTANT_CUE


def uses_own_template(tokenizer: Any) -> bool:
    """True when the tokenizer's template (which usually holds its special tokens) renders the chat."""
    return bool(getattr(tokenizer, "chat_template", None))
