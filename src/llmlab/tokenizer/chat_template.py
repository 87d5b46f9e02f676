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
    """The prompt text of `messages`. A template that refuses a system message (Gemma's, Mistral-v0.1's) gets
    the system text folded into the first user message instead, as chat front-ends for those models do."""
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        from jinja2.exceptions import TemplateError

        try:
            return tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
        # the template's own raise_exception(...): it rejects this conversation
        except TemplateError as exc:
            folded = fold_system(plain)
            if folded is not None:
                try:
                    return tokenizer.apply_chat_template(folded, tokenize=False, add_generation_prompt=True)
                except TemplateError:
                    pass
            from llmlab.errors import LabError

            roles = " -> ".join(m["role"] for m in plain)
            raise LabError(f"the model's chat template refused the conversation ({roles}): {exc}",
                           hint="many templates need user/assistant turns to alternate, starting with the "
                                "user; reorder or merge the messages") from None
    return "".join(DEFAULT_CHAT_TEMPLATE.format(**m) for m in plain) + ASSISTANT_CUE


def fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]] | None:
    """The system messages' text put in front of the first user message (None: nothing to fold)."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    rest = [dict(m) for m in messages if m["role"] != "system"]
    first_user = next((m for m in rest if m["role"] == "user"), None)
    if not system or first_user is None:
        return None
    first_user["content"] = "\n\n".join(system + [first_user["content"]])
    return rest


def uses_own_template(tokenizer: Any) -> bool:
    """True when the tokenizer's template (which usually holds its special tokens) renders the chat."""
    return bool(getattr(tokenizer, "chat_template", None))
