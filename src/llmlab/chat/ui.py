"""The Gradio chat UI: token streaming, sampling controls, a context meter, saved sessions and long-term
facts.

    llmlab chat ui --model hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0 --quantize int8 --port 7860

`ChatUI` holds the model and the session store; its methods are the Blocks' callbacks (plain Python, tested
without a browser) and `build()` wires them into a `gr.Blocks` app. One model serves every browser tab, so
generation runs one request at a time (concurrency_limit=1). Each page load reads the session as saved now
(not as it was when the server started). Any name typed into the session box reaches the server, so a session
folder is made only with its first message or fact, and at most MAX_OPEN_SESSIONS bots stay in memory (the
least recently used is let go; its session is on disk).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from llmlab.chat.bot import ChatBot
from llmlab.chat.memory import ChatStore
from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM

MAX_OPEN_SESSIONS = 32


def shown_errors(fn):
    """`fn` as a Gradio callback whose LabError becomes a gr.Error, which the page shows with its hint (any
    other exception shows only "Error"): a bad session name typed in the box, an empty fact."""
    import functools
    import inspect

    import gradio as gr

    def as_gr(exc: LabError):
        return gr.Error(f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""), print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args):
            try:
                yield from fn(*args)
            except LabError as exc:
                raise as_gr(exc) from None
        return stream

    @functools.wraps(fn)
    def call(*args):
        try:
            return fn(*args)
        except LabError as exc:
            raise as_gr(exc) from None
    return call


def _chat_value(bot: ChatBot) -> list[dict[str, str]]:
    """The session's messages as the Chatbot's value (Gradio 6 takes {"role", "content"} dicts)."""
    return [m for m in bot.session.history() if m["role"] in ("user", "assistant")]


class ChatUI:
    def __init__(self, llm: LLM, store: ChatStore | None = None, system: str | None = None,
                 title: str | None = None, summarize: bool = False):
        """`system` None: a resumed session keeps its saved system prompt, a new one gets DEFAULT_SYSTEM."""
        self.llm, self.store, self.system, self.summarize = llm, store or ChatStore(), system, summarize
        self.title = title or f"llmlab chat — {llm.name}"
        self._bots: OrderedDict[str, ChatBot] = OrderedDict()     # least recently used first

    def bot(self, session: str) -> ChatBot:
        """The session's bot; a new session stays in memory until its first message or fact."""
        if session in self._bots:
            self._bots.move_to_end(session)
            return self._bots[session]
        bot = ChatBot(self.llm, self.store.open(session, create=False, system=self.system), self.system,
                      summarize=self.summarize)
        self._bots[session] = bot
        while len(self._bots) > MAX_OPEN_SESSIONS:
            self._bots.popitem(last=False)
        return bot

    # ---- callbacks ------------------------------------------------------------------------------

    def respond(self, message: str, session: str, system: str, temperature: float, top_p: float,
                max_tokens: float) -> Iterator[tuple[list[dict[str, str]], str, str]]:
        """Stream one answer: yields (chat messages, the cleared textbox, the context meter) as tokens
        arrive."""
        bot = self.bot(session)
        bot.system = system.strip() or None
        if not message.strip():
            yield _chat_value(bot), "", bot.meter_text()
            return
        params = SamplingParams(temperature=float(temperature), top_p=float(top_p),
                                max_new_tokens=int(max_tokens))
        shown = _chat_value(bot) + [{"role": "user", "content": message}, {"role": "assistant",
                                                                           "content": ""}]
        stream = bot.reply_stream(message, params)
        try:
            for piece in stream:
                shown[-1] = {"role": "assistant", "content": shown[-1]["content"] + piece}
                yield list(shown), "", bot.meter_text()
        # e.g. the message alone does not fit the window: say so, keep the text
        except LabError as exc:
            shown[-1] = {"role": "assistant", "content": f"⚠️ {exc}"}
            yield shown, message, bot.meter_text()
            return
        finally:
            stream.close()                  # Stop pressed: the model stops, and what was said so far is saved
        yield _chat_value(bot), "", bot.meter_text() + "  \n" + bot.last_plan.report()

    def load(self, session: str) -> tuple[list[dict[str, str]], str, str, str]:
        """Switch to (or start) a session: its messages, system prompt, meter and facts, as saved now (another
        process, e.g. the REPL, may have added turns since this server read it)."""
        bot = self.bot(session)
        bot.reload()
        return _chat_value(bot), bot.system or "", bot.meter_text(), self.facts_text(session)

    def page_load(self, session: str) -> tuple[Any, list[dict[str, str]], str, str, str]:
        """What a page (re)load shows: the saved sessions and `session` as it is now."""
        import gradio as gr

        names = self.session_names()
        return (gr.update(choices=names if session in names else [session, *names]), *self.load(session))

    def new_session(self) -> tuple[Any, list, str, str]:
        import time

        import gradio as gr

        name = time.strftime("chat-%Y%m%d-%H%M%S")
        bot = self.bot(name)
        return (gr.update(choices=[name, *self.session_names()], value=name), [], bot.meter_text(),
                self.facts_text(name))

    def clear(self, session: str) -> tuple[list, str]:
        """Forget the conversation (its facts stay)."""
        bot = self.bot(session)
        if bot.session.saved:          # nothing to forget in a session never written (and no folder to make)
            bot.session.clear()
        bot.last_plan = None
        return [], bot.meter_text()

    def remember(self, fact: str, session: str) -> tuple[str, str]:
        self.bot(session).session.remember(fact)
        return "", self.facts_text(session)

    def facts_text(self, session: str) -> str:
        facts = self.bot(session).session.facts
        return "\n".join(f"{i + 1}. {f}" for i, f in enumerate(facts)) if facts else "_no facts yet_"

    def session_names(self) -> list[str]:
        return [row["name"] for row in self.store.list()]

    # ---- the app --------------------------------------------------------------------------------

    def build(self, session: str | None = None):
        """The gr.Blocks app (not launched)."""
        import gradio as gr

        first = session or (self.session_names() or ["default"])[0]
        chat0, system0, meter0, facts0 = self.load(first)
        window = self.llm.context_window
        with gr.Blocks(title=self.title) as app:
            gr.Markdown(f"### {self.title}")
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(value=chat0, height=480, label="conversation")
                    meter = gr.Markdown(meter0)
                    box = gr.Textbox(placeholder="Type a message and press Enter", show_label=False)
                    with gr.Row():
                        send = gr.Button("Send", variant="primary")
                        stop = gr.Button("Stop")
                        clear = gr.Button("Clear conversation")
                        new = gr.Button("New session")
                with gr.Column(scale=1):
                    sessions = gr.Dropdown(choices=self.session_names() or [first], value=first,
                                           allow_custom_value=True, label="session (saved under runs/chat/)")
                    system = gr.Textbox(value=system0, label="system prompt", lines=3)
                    temperature = gr.Slider(0.0, 2.0, value=0.7, step=0.05, label="temperature (0 = greedy)")
                    top_p = gr.Slider(0.05, 1.0, value=0.95, step=0.05, label="top-p")
                    max_tokens = gr.Slider(
                        1,
                        max(1, min(2048, window // 2)),
                        value=min(256, max(1, window // 4)),
                        step=1,
                        label="max new tokens",
                    )
                    facts = gr.Markdown(facts0, label="long-term facts")
                    fact = gr.Textbox(placeholder="a fact to remember across trimming", show_label=False)
            inputs = [box, sessions, system, temperature, top_p, max_tokens]
            answering = gr.on([box.submit, send.click], shown_errors(self.respond), inputs, [chatbot, box,
                                                                                             meter],
                              concurrency_limit=1, api_name="respond")
            stop.click(None, None, None, cancels=[answering])
            sessions.change(shown_errors(self.load), [sessions], [chatbot, system, meter, facts])
            # the values above are the server's start; a page (re)load shows the session as saved now
            app.load(shown_errors(self.page_load), [sessions], [sessions, chatbot, system, meter, facts])
            clear.click(shown_errors(self.clear), [sessions], [chatbot, meter])
            new.click(self.new_session, None, [sessions, chatbot, meter, facts])
            fact.submit(shown_errors(self.remember), [fact, sessions], [fact, facts])
        return app
