"""Exercise `context`: fit a conversation into the model's window — the system prompt and the newest message
always, then the most recent whole exchanges, then memory notes — with exact token counts.

Check it with `llmlab learn check chat context` (many random conversations against llmlab's planner, two
scripted tokenizers, and invariants: exact counts, within the budget, nothing more could fit).
    llm.context_window              the window, in tokens
    llm.count_chat_tokens(msgs)     the EXACT tokens of the rendered conversation (chat template, the cue for
                                    the answer): count what the model will read, never a sum of per-message
                                    counts, which misses the template's tokens
`system_message(system, notes)` (given) puts the memory notes under the system prompt as ONE message
(or none when both are empty); `ContextPlan` (given) is what you return.
"""

from __future__ import annotations

from collections.abc import Sequence  # noqa: F401 - for your code

from llmlab.chat.context import ContextPlan, system_message  # noqa: F401 - for your code
from llmlab.llm.base import LLM, ContextWindowError, Message  # noqa: F401 - for your code


def exchanges(history: Sequence[Message]) -> list[list[Message]]:
    """Split a history into exchanges: each starts at a user message and holds the replies up to the next
    user message; messages before the first user message form one group of their own. Copy each message as
    a plain {"role", "content"} dict.

    Example: [user a, assistant b, assistant c, user d] -> [[user a, assistant b, assistant c], [user d]]
             [assistant x, user a, assistant b]          -> [[assistant x], [user a, assistant b]]
    """
    raise NotImplementedError("exchanges")


def fit_context(llm: LLM, system: str | None, history: Sequence[Message], user: str, max_new_tokens: int,
                memory: Sequence[str] = ()) -> ContextPlan:
    """The largest recent part of `history` (whole exchanges) that fits beside the system prompt, the memory
    notes and the newest message `user`.

        budget B = llm.context_window - max_new_tokens         (the answer needs its room too)
        messages = system_message(system, memory[:k]) + (the kept exchanges, in order) + [{"role": "user",
        "content": user}]

    1. Everything fits (count <= B): keep it all.
    2. Else, if the system prompt, ALL the memory and the newest message fit: drop the FEWEST oldest exchanges
       (whole exchanges: the kept part never opens with an orphan reply) so that the rest fits.
    3. Else drop every exchange and keep the most memory notes, first ones first (memory[:k], largest k).
    Never drop the system prompt or the newest message: when those two alone (no history, no memory) exceed
    B, raise ContextWindowError saying both numbers.
    Return ContextPlan(messages, prompt_tokens=llm.count_chat_tokens(messages), budget=B,
                       window=llm.context_window, max_new_tokens, dropped=[the dropped history messages,
                       oldest first], memory_kept=memory[:k], memory_dropped=memory[k:]).
    A rendered chat only grows as messages are added, so "the fewest exchanges to drop" may be found by binary
    search (O(log n) counts) — a loop from the oldest works too.

    Example (1 token per word; a message renders as "role: content\\n", plus the cue "assistant:"):
        system "be brief" (3 tokens), newest "what now" (3 + 1), 3 exchanges of 7 tokens each
        ("user: question number i", "assistant: answer i"); window 35, max_new_tokens 10 -> B = 25.
        Everything: 7 + 21 = 28 > 25. Drop the oldest exchange: 7 + 14 = 21 <= 25 ->
        messages = [system, user q1, assistant a1, user q2, assistant a2, user "what now"], prompt_tokens 21,
        dropped = [user q0, assistant a0].
    """
    raise NotImplementedError("fit_context")
