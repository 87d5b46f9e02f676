"""Context-window logic: fit system prompt + long-term memory + the most recent turns into the model's window.

    plan = fit_context(llm, system="You are terse.", history=turns, user="And then?", max_new_tokens=128,
                       memory=["the user's name is Ada"])
    llm.chat_stream(plan.messages, params); print(plan.report())

The budget is  B = llm.context_window - max_new_tokens  tokens for the prompt, counted exactly on the rendered
conversation (`llm.count_chat_tokens`, the model's own chat template). What is given up, in order:
1. the oldest exchanges (a user message and the replies up to the next user message), one whole exchange at a
   time, so the kept conversation never opens with an orphan reply;
2. then memory items, last first (the caller lists them most important first);
never the system prompt nor the newest user message: when those two alone exceed B, a ContextWindowError says
by how much. A rendered chat only grows as messages are added, so the number of exchanges to drop is found by
binary search: O(log n) token counts instead of one per turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from llmlab.llm.base import LLM, ContextWindowError, Message

MEMORY_HEADER = "Notes from earlier in this conversation:"


@dataclass
class ContextPlan:
    messages: list[Message]             # what the model receives, system first, newest user message last
    prompt_tokens: int                  # count_chat_tokens(messages)
    budget: int                         # context_window - max_new_tokens
    window: int
    max_new_tokens: int
    dropped: list[Message] = field(default_factory=list)         # history messages left out, oldest first
    memory_kept: list[str] = field(default_factory=list)
    memory_dropped: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.prompt_tokens <= self.budget

    def report(self) -> str:
        """One line for the terminal and the UI: what was used and what was left out."""
        parts = [f"{self.prompt_tokens}/{self.window} tokens in the prompt ({self.max_new_tokens} kept for "
                 f"the answer)"]
        if self.dropped:
            groups, n = len(exchanges(self.dropped)), len(self.dropped)
            parts.append(f"dropped the oldest {groups} exchange{'s' * (groups != 1)} "
                         f"({n} message{'s' * (n != 1)})")
        if self.memory_kept:
            parts.append(f"{len(self.memory_kept)} memory note{'s' * (len(self.memory_kept) != 1)}")
        if self.memory_dropped:
            n = len(self.memory_dropped)
            parts.append(f"{n} memory note{'s' * (n != 1)} did not fit")
        return "; ".join(parts)


def exchanges(history: Sequence[Message]) -> list[list[Message]]:
    """Split a history into exchanges: each starts at a user message (leading non-user messages form one)."""
    groups: list[list[Message]] = []
    for message in history:
        if message["role"] == "user" or not groups:
            groups.append([])
        groups[-1].append({"role": message["role"], "content": message["content"]})
    return groups


def system_message(system: str | None, memory: Sequence[str]) -> list[Message]:
    """The system prompt with the memory notes under it (one message: many chat templates allow one
    system)."""
    text = (system or "").strip()
    if memory:
        notes = "\n".join(f"- {item}" for item in memory)
        text = f"{text}\n\n{MEMORY_HEADER}\n{notes}" if text else f"{MEMORY_HEADER}\n{notes}"
    return [{"role": "system", "content": text}] if text else []


def fit_context(llm: LLM, system: str | None, history: Sequence[Message], user: str, max_new_tokens: int,
                memory: Sequence[str] = ()) -> ContextPlan:
    """The largest recent part of `history` (whole exchanges) that fits with the system prompt, memory and
    `user`."""
    window = llm.context_window
    budget = window - max_new_tokens
    newest: Message = {"role": "user", "content": user}
    groups = exchanges(history)
    memory = list(memory)

    def build(n_drop: int, n_memory: int) -> list[Message]:
        kept = [m for group in groups[n_drop:] for m in group]
        return system_message(system, memory[:n_memory]) + kept + [newest]

    def count(n_drop: int, n_memory: int) -> int:
        return llm.count_chat_tokens(build(n_drop, n_memory))

    def plan(n_drop: int, n_memory: int, tokens: int) -> ContextPlan:
        return ContextPlan(build(n_drop, n_memory), tokens, budget, window, max_new_tokens,
                           dropped=[m for group in groups[:n_drop] for m in group],
                           memory_kept=memory[:n_memory], memory_dropped=memory[n_memory:])

    everything = count(0, len(memory))
    if everything <= budget:
        return plan(0, len(memory), everything)
    bare = count(len(groups), 0)
    if bare > budget:
        raise ContextWindowError(
            f"the system prompt and the newest message take {bare} tokens, but only {budget} fit "
            f"({window} in {llm.name}'s window, {max_new_tokens} kept for the answer)",
            hint="shorten the message or the system prompt, lower max_new_tokens, or use a model with a "
                 "longer window")
    # 1. the fewest oldest exchanges to drop with all memory kept: the least n in [0, len] that fits
    with_memory = count(len(groups), len(memory))
    if with_memory <= budget:
        lo, hi = 1, len(groups)              # n = 0 does not fit (checked), n = len does
        while lo < hi:
            mid = (lo + hi) // 2
            if count(mid, len(memory)) <= budget:
                hi = mid
            else:
                lo = mid + 1
        return plan(lo, len(memory), count(lo, len(memory)))
    # 2. no history fits beside all the memory: keep the most memory notes that fit alone
    lo, hi = 0, len(memory) - 1              # k notes: k = 0 fits (bare), k = len does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(len(groups), mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return plan(len(groups), lo, count(len(groups), lo))
