"""Chat SFT data: conversations rendered with the model's own chat template, the loss on assistant turns only.

    chat = [{"role": "user", "content": "2+3="}, {"role": "assistant", "content": "5"}]
    example = encode_conversation(tok, chat)
    example.ids, example.learn        # token ids of the rendered chat, and which of them the loss is taken on
    rows = chat_rows(tok, conversations, batch_size=16)    # a batch source for llmlab.training.Trainer

Which characters are the assistant's: for the k-th message (an assistant turn), the prompt the model sees at
inference is `render_chat(messages[:k])` (the one renderer, llmlab.tokenizer.chat_template, which ends
with the template's generation cue) and the turn ends where the template's rendering of `messages[:k+1]`
ends. So the span [len(prompt), len(through k)) is what the model writes, its end-of-turn text included
(the model must learn to stop). A token is learned when it overlaps such a span, the rule of transformers'
`return_assistant_tokens_mask` (which needs `{% generation %}` markers in the template; this needs none). A
template that renders an earlier turn differently once later turns exist (Qwen3 drops past reasoning) is not
prefix-stable, and is refused with the turn that changed.

The two silent failures this guards against: no chat template at all (the model is trained on text it never
sees at inference), and the loss taken over the prompt (the model learns to write the user's questions).
Not handled: packing several conversations into one row (rows are right-padded instead; a causal model
never attends from a real token to a later pad, so the padding needs no attention mask).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmlab.errors import LabError
from llmlab.tokenizer.chat_template import render_chat

ROLES = ("system", "user", "assistant")


@dataclass
class ChatExample:
    ids: list[int]
    learn: list[bool]          # learn[i]: token i is written by the assistant (a target of the loss)
    text: str


def require_chat_template(tokenizer: Any, what: str = "chat SFT") -> None:
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise LabError(f"{what} needs a chat template, and the tokenizer of {name!r} has none: the model "
                       "would be trained on text it never sees when chatting",
                       hint="give one with --chat-template FILE (a Jinja template, e.g. TRL's "
                            "chat_templates/), or start from a chat model whose tokenizer_config.json has "
                            "a chat_template")


def check_messages(messages: Any, where: str = "the conversation") -> list[dict[str, str]]:
    """A list of {"role", "content"} with string contents, roles from ROLES, and an assistant turn."""
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise LabError(f"{where} must be a non-empty list of messages, got {type(messages).__name__}",
                       hint='each example needs "messages": [{"role": "user", "content": ...}, '
                            '{"role": "assistant", "content": ...}]')
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in ROLES:
            raise LabError(f"message {i} of {where} is {m!r}: each message needs a role ({', '.join(ROLES)}) "
                           "and a string content", hint='{"role": "user", "content": "2+3="}')
        out.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "assistant" for m in out):
        raise LabError(f"{where} has no assistant turn, so there is nothing to learn",
                       hint="every SFT conversation needs at least one assistant message")
    return out


def render_conversation(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The whole conversation as the template writes it (no generation cue at the end): the template itself,
    through transformers, as render_chat uses it for prompts."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)


def assistant_spans(tokenizer: Any, messages: list[dict[str, str]], last_only: bool = False
                    ) -> tuple[str, list[tuple[int, int]]]:
    """(rendered text, [start, end) character spans written by the assistant), turn by turn."""
    text = render_conversation(tokenizer, messages)
    spans = []
    turns = [k for k, m in enumerate(messages) if m["role"] == "assistant"]
    for k in turns[-1:] if last_only else turns:
        before = render_chat(tokenizer, messages[:k]) if k else ""
        through = render_conversation(tokenizer, messages[:k + 1])
        if not (text.startswith(through) and through.startswith(before)):
            raise LabError(f"the chat template is not prefix-stable at message {k}: the rendered prompt "
                           f"{before[-40:]!r} is not how the conversation continues "
                           f"({through[len(before) - 40:]!r})",
                           hint="use a template that renders earlier turns the same whatever follows "
                                "(TRL's *_training.jinja templates are)")
        spans.append((len(before), len(through)))
    return text, spans


def encode_conversation(tokenizer: Any, messages: Any, last_only: bool = False) -> ChatExample:
    """Token ids of the rendered conversation and the assistant-only mask (last turn only with last_only)."""
    require_chat_template(tokenizer)
    messages = check_messages(messages)
    text, spans = assistant_spans(tokenizer, messages, last_only)
    # no special tokens added: the template wrote any BOS itself
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    learn = [any(a < end and b > start for start, end in spans) for a, b in enc["offset_mapping"]]
    return ChatExample(list(enc["input_ids"]), learn, text)


def check_assistant_only(tokenizer: Any, messages: Any, ids: Sequence[int], labels: Sequence[int]) -> None:
    """Raise when `labels` (-100 = not learned, aligned with `ids` as in HF: labels[i] is ids[i]) train on
    anything but the assistant turns, or on nothing. The loud check before any chat SFT run."""
    expected = encode_conversation(tokenizer, messages)
    if list(ids) != expected.ids:
        raise LabError("the token ids are not the chat template's rendering of the conversation",
                       hint="render conversations with encode_conversation (the model's own template)")
    learned = [lab != -100 for lab in labels]
    pairs = zip(learned, expected.learn, strict=True)
    prompt = [i for i, (got, want) in enumerate(pairs) if got and not want]
    if prompt:
        shown = tokenizer.decode([ids[i] for i in prompt])
        raise LabError(f"the loss covers {len(prompt)} prompt tokens ({shown[:60]!r}): the model would learn "
                       "to write the user's side", hint="mask all but the assistant turns (labels = -100)")
    if not any(learned):
        raise LabError("the loss covers no token of this conversation",
                       hint="the assistant turns must be learned: check the template's end-of-turn handling")


def chat_rows(tokenizer: Any, conversations: Sequence[Any], batch_size: int, seed: int = 0,
              max_length: int | None = None):
    """A Trainer batch source over the encoded conversations (right-padded, truncated to max_length tokens);
    the first conversation goes through `check_assistant_only` as well."""
    from llmlab.experiments.sequences import MaskedRows
    from llmlab.training.batches import pad_rows

    seqs, masks = [], []
    for i, messages in enumerate(conversations):
        ex = encode_conversation(tokenizer, messages)
        if i == 0:
            labels = [t if ok else -100 for t, ok in zip(ex.ids, ex.learn, strict=True)]
            check_assistant_only(tokenizer, messages, ex.ids, labels)
        ids, learn = ex.ids[:max_length], ex.learn[:max_length]
        if any(learn[1:]):                 # position 0 is never a target (nothing comes before it)
            seqs.append(ids)
            masks.append(learn)
    if not seqs:
        raise LabError("no conversation has an assistant token within max_length",
                       hint="raise max_length or shorten the prompts")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id or 0
    return MaskedRows(*pad_rows(seqs, masks, pad_id=pad), batch_size, seed=seed)
