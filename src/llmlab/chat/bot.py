"""A chat with memory: one `LLM`, one saved `Session`, the context-window plan for every turn.

    bot = ChatBot(load_llm("hf:DIR"), ChatStore().open("notes"), system="You are a helpful assistant.")
    for piece in bot.reply_stream("Hello!", SamplingParams(max_new_tokens=64)): print(piece, end="")
    bot.last_plan.report()      # "212/1024 tokens in the prompt ...; dropped the oldest 3 exchanges ..."

Long-term memory, rebuilt on every turn and placed under the system prompt: the session's facts (what the user
asked to remember) first, then up to `recall_k` old messages that fell out of the window, found by BM25 on the
newest message (recall.py). So a detail trimmed from the window comes back when the user asks about it.
"""

from __future__ import annotations

from collections.abc import Iterator

from llmlab.chat.context import ContextPlan, fit_context
from llmlab.chat.memory import Session
from llmlab.chat.recall import recall
from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM

DEFAULT_SYSTEM = "You are a helpful assistant. Answer briefly."
RECALL_CHARS = 300          # a recalled message is cut to this many characters: a reminder, not a transcript


class ChatBot:
    def __init__(self, llm: LLM, session: Session, system: str | None = None, recall_k: int = 3):
        self.llm, self.session, self.recall_k = llm, session, recall_k
        self.system = system if system is not None else session.meta.get("system", DEFAULT_SYSTEM)
        if session.meta.get("system") != self.system or session.meta.get("model") != llm.name:
            session.meta.update(system=self.system, model=llm.name)
            session.save()
        self.last_plan: ContextPlan | None = None

    def memory_for(self, user: str, dropped: list[dict[str, str]]) -> list[str]:
        """The session's facts, then the dropped messages that best match `user`."""
        notes = list(self.session.facts)
        if dropped and self.recall_k:
            texts = [m["content"] for m in dropped]
            for i in recall(texts, user, self.recall_k):
                content = texts[i] if len(texts[i]) <= RECALL_CHARS else texts[i][:RECALL_CHARS] + "…"
                notes.append(f"earlier, {dropped[i]['role']} said: {content}")
        return notes

    def plan(self, user: str, params: SamplingParams) -> ContextPlan:
        """Fit the turn: first without recall to learn what falls out, then with the recalled notes."""
        history = self.session.history()
        first = fit_context(self.llm, self.system, history, user, params.max_new_tokens, self.session.facts)
        memory = self.memory_for(user, first.dropped)
        if len(memory) == len(self.session.facts):
            return first
        # recalled notes take room, so a few more old exchanges may go; they stay recallable next turn
        return fit_context(self.llm, self.system, history, user, params.max_new_tokens, memory)

    def reply_stream(self, user: str, params: SamplingParams | None = None) -> Iterator[str]:
        """Stream the answer; the user message and the answer are saved when the stream ends (or is closed)."""
        params = params or SamplingParams()
        plan = self.plan(user, params)
        self.last_plan = plan
        self.session.add("user", user)
        parts: list[str] = []
        try:
            for piece in self.llm.chat_stream(plan.messages, params):
                parts.append(piece)
                yield piece
        finally:                      # a stopped stream keeps what was said so far
            self.session.add("assistant", "".join(parts), prompt_tokens=plan.prompt_tokens,
                             dropped=len(plan.dropped))

    def reply(self, user: str, params: SamplingParams | None = None) -> str:
        return "".join(self.reply_stream(user, params))

    def meter(self) -> dict[str, int]:
        """The context meter: what the last turn used of the window, and what the whole conversation would take."""
        window = self.llm.context_window
        if self.last_plan is None:
            return {"used": 0, "window": window, "prompt": 0, "answer": 0, "dropped_messages": 0}
        answer = self.session.messages[-1]["content"] if self.session.messages else ""
        answer_tokens = self.llm.count_tokens(answer) if answer else 0
        return {"used": self.last_plan.prompt_tokens + answer_tokens, "window": window,
                "prompt": self.last_plan.prompt_tokens, "answer": answer_tokens,
                "dropped_messages": len(self.last_plan.dropped)}

    def meter_text(self) -> str:
        m = self.meter()
        if not m["prompt"]:
            return f"context: 0 / {m['window']} tokens"
        text = (f"context: {m['used']} / {m['window']} tokens ({100 * m['used'] / m['window']:.0f}%: prompt "
                f"{m['prompt']} + answer {m['answer']})")
        return text + (f" · {m['dropped_messages']} old messages out of the window" if m["dropped_messages"] else "")
