"""A chat with memory: one `LLM`, one saved `Session`, the context-window plan for every turn.

    bot = ChatBot(load_llm("hf:DIR"), ChatStore().open("notes"), system="You are a helpful assistant.")
    for piece in bot.reply_stream("Hello!", SamplingParams(max_new_tokens=64)): print(piece, end="")
    bot.last_plan.report()      # "212/1024 tokens in the prompt ...; dropped the oldest 3 exchanges ..."

Long-term memory, rebuilt on every turn and placed under the system prompt: with `summarize=True`, a running
summary the model itself writes of the messages trimmed so far (one extra, greedy call on a turn that trims
new messages); the session's facts (what the user asked to remember); then up to `recall_k` old messages that
fell out of the window, found by BM25 on the newest message (recall.py). So a detail trimmed from the window
comes back when the user asks about it.
"""

from __future__ import annotations

from collections.abc import Iterator

from llmlab.chat.context import ContextPlan, fit_context, system_message
from llmlab.chat.memory import Session
from llmlab.chat.recall import recall
from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM

DEFAULT_SYSTEM = "You are a helpful assistant. Answer briefly."
RECALL_CHARS = 300          # a recalled message is cut to this many characters: a reminder, not a transcript
SUMMARY_PROMPT = ("Summarise the conversation below in at most three sentences. Keep every name, number and "
                  "fact "
                  "the user stated. Write only the summary.")
SUMMARY_NOTE = "summary of the earlier conversation: "


class ChatBot:
    def __init__(self, llm: LLM, session: Session, system: str | None = None, recall_k: int = 3,
                 summarize: bool = False, summary_tokens: int = 96):
        self.llm, self.session, self.recall_k = llm, session, recall_k
        self.summarize, self.summary_tokens = summarize, summary_tokens
        self.system = system if system is not None else session.meta.get("system", DEFAULT_SYSTEM)
        if session.meta.get("system") != self.system or session.meta.get("model") != llm.name:
            session.meta.update(system=self.system, model=llm.name)
            if session.saved:          # a new session is written with its first message, not before
                session.save()
        self.last_plan: ContextPlan | None = None

    def reload(self) -> None:
        """Read the session again when it changed on disk since this bot last read or wrote it."""
        if not self.session.saved:
            return
        on_disk = Session.load(self.session.path)
        if on_disk.meta.get("updated") != self.session.meta.get("updated"):
            self.session, self.last_plan = on_disk, None

    def pinned_notes(self) -> list[str]:
        """What is always under the system prompt: the running summary (if any), then the facts."""
        summary = self.session.meta.get("summary")
        return ([SUMMARY_NOTE + summary] if summary else []) + list(self.session.facts)

    def recalled_notes(self, user: str, dropped: list[dict[str, str]]) -> list[str]:
        """The dropped messages that best match `user`, as notes."""
        if not dropped or not self.recall_k:
            return []
        texts = [m["content"] for m in dropped]
        notes = []
        for i in recall(texts, user, self.recall_k):
            content = texts[i] if len(texts[i]) <= RECALL_CHARS else texts[i][:RECALL_CHARS] + "…"
            notes.append(f"earlier, {dropped[i]['role']} said: {content}")
        return notes

    def update_summary(self, dropped: list[dict[str, str]]) -> bool:
        """Fold the messages dropped since the last summary into it (the model writes it); True if it changed.

        `dropped` is always the oldest part of the history, so the session keeps how many messages the summary
        covers; a request too long for the window loses its oldest new lines first."""
        from llmlab.errors import LabError

        done = int(self.session.meta.get("summarized", 0))
        new = dropped[done:]
        if not new:
            return False
        previous = self.session.meta.get("summary")
        lines = [f"{m['role']}: {m['content']}" for m in new]
        # at most a quarter of the window, so the messages to summarise keep most of it
        params = SamplingParams(temperature=0.0, max_new_tokens=min(self.summary_tokens,
                                                                    self.llm.context_window // 4))
        while True:
            body = (
                (f"Summary so far: {previous}\n\n" if previous else "") + "New messages:\n" + "\n".join(lines)
            )
            request = [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": body}]
            fits = self.llm.count_chat_tokens(request) + params.max_new_tokens <= self.llm.context_window
            if fits or len(lines) == 1:
                break
            lines = lines[1:]
        try:
            text = self.llm.chat(request, params).text.strip()
        # not even one message fits beside the instruction: keep the old summary
        except LabError:
            text = ""
        if text:
            self.session.meta["summary"] = text
        self.session.meta["summarized"] = len(dropped)
        self.session.save()
        return bool(text)

    def plan(self, user: str, params: SamplingParams) -> ContextPlan:
        """Fit the turn: first with the pinned notes to learn what falls out (and summarise it, if asked),
        then with the recalled notes too."""
        history, n = self.session.history(), params.max_new_tokens
        pinned = self.pinned_notes()
        first = fit_context(self.llm, self.system, history, user, n, pinned)
        if self.summarize and self.update_summary(first.dropped):
            pinned = self.pinned_notes()
            first = fit_context(self.llm, self.system, history, user, n, pinned)
        recalled = self.recalled_notes(user, first.dropped)
        if not recalled:
            return first
        # recalled notes take room, so a few more old exchanges may go; they stay recallable next turn
        return fit_context(self.llm, self.system, history, user, n, pinned + recalled)

    def reply_stream(self, user: str, params: SamplingParams | None = None) -> Iterator[str]:
        """Stream the answer; the user message and the answer are saved when the stream ends (or is
        closed)."""
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
        """The context meter: what the last turn (prompt + answer) used of the window, and how much was
        trimmed. Before any turn of this bot (a session just loaded): the saved conversation's tokens as the
        model would read it whole, system prompt and notes included (0 for an empty conversation)."""
        window = self.llm.context_window
        if self.last_plan is None:
            history = self.session.history()
            used = self.llm.count_chat_tokens(system_message(self.system,
                                                             self.pinned_notes()) + history) if history else 0
            return {"used": used, "window": window, "prompt": used, "answer": 0, "dropped_messages": 0}
        answer = self.session.messages[-1]["content"] if self.session.messages else ""
        answer_tokens = self.llm.count_tokens(answer) if answer else 0
        return {"used": self.last_plan.prompt_tokens + answer_tokens, "window": window,
                "prompt": self.last_plan.prompt_tokens, "answer": answer_tokens,
                "dropped_messages": len(self.last_plan.dropped)}

    def meter_text(self) -> str:
        m = self.meter()
        if not m["prompt"]:
            return f"context: 0 / {m['window']} tokens"
        if self.last_plan is None:
            over = m["used"] > m["window"]
            return (f"context: {m['used']} / {m['window']} tokens (the saved conversation"
                    + ("; the next turn keeps the newest messages that fit)" if over else ")"))
        text = (f"context: {m['used']} / {m['window']} tokens ({100 * m['used'] / m['window']:.0f}%: prompt "
                f"{m['prompt']} + answer {m['answer']})")
        return text + (
            f" · {m['dropped_messages']} old messages out of the window" if m["dropped_messages"] else ""
        )
