"""The Gradio UI's callbacks called directly (no browser), the Blocks app building, and the REPL's
commands."""


import pytest

from llmlab.chat.bot import ChatBot
from llmlab.chat.memory import ChatStore
from llmlab.chat.repl import handle_command, run_repl
from llmlab.chat.ui import ChatUI
from llmlab.generation import SamplingParams
from word_llm import WordLLM


class CountLLM(WordLLM):
    """Answers "one two three four five", cut at max_new_tokens."""

    def __init__(self, window: int = 200):
        super().__init__(window, answer=lambda prompt: ["one", "two", "three", "four", "five"])


def reader(lines):
    """A stand-in for input(): the lines, then end of input (Ctrl-D)."""
    it = iter(lines)

    def read(_prompt):
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None
    return read


@pytest.fixture
def chat_ui(runs_dir):
    return ChatUI(CountLLM(), ChatStore(), system="be brief")


def test_respond_streams_token_by_token_and_saves(chat_ui):
    frames = list(chat_ui.respond("hello", "s", "be brief", 0.3, 0.9, 3))
    assert [f[0][-1]["content"] for f in frames[:3]] == ["one ", "one two ", "one two three "]
    chat, box, meter = frames[-1]
    assert chat == [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "one two three "}]
    assert box == ""
    used = chat_ui.bot("s").last_plan.prompt_tokens + 3
    assert meter.startswith(f"context: {used} / 200 tokens")
    params = chat_ui.llm.calls[-1]
    assert (params.temperature, params.top_p, params.max_new_tokens) == (0.3, 0.9, 3)
    assert ChatStore().open("s").history() == chat                       # saved on disk


def test_stopping_the_stream_saves_the_partial_answer(chat_ui):
    frames = chat_ui.respond("hello", "p", "be brief", 0.0, 1.0, 5)
    next(frames), next(frames)                       # "one ", "one two "
    frames.close()                                   # what Gradio does when Stop cancels the event
    assert ChatStore().open("p").history()[-1] == {"role": "assistant", "content": "one two "}


def test_message_too_long_is_shown_not_raised(chat_ui):
    frames = list(chat_ui.respond("word " * 300, "s", "be brief", 0.0, 1.0, 10))
    chat, box, _ = frames[-1]
    assert "⚠️" in chat[-1]["content"] and "fit" in chat[-1]["content"]
    assert box.strip() == ("word " * 300).strip()                     # the text stays in the box to edit
    assert ChatStore().open("s").messages == []                        # nothing half-saved


def test_sessions_clear_new_and_facts(chat_ui):
    list(chat_ui.respond("first", "a", "be brief", 0.0, 1.0, 2))
    box, facts = chat_ui.remember("likes tea", "a")
    assert box == "" and facts == "1. likes tea"
    chat, system, meter, facts = chat_ui.load("a")
    assert len(chat) == 2 and system == "be brief" and "likes tea" in facts
    chat, meter = chat_ui.clear("a")
    assert (
        chat == [] and ChatStore().open("a").messages == [] and ChatStore().open("a").facts == ["likes tea"]
    )
    update, chat, meter, facts = chat_ui.new_session()
    assert update["value"] in update["choices"] and chat == [] and meter == "context: 0 / 200 tokens"
    assert update["value"] not in chat_ui.session_names()             # on disk only with its first message
    # the system prompt box is sent with each message
    list(chat_ui.respond("x", "a", "talk like a pirate", 0.0, 1.0, 1))
    assert ChatStore().open("a").meta["system"] == "be brief"          # the saved default is unchanged ...
    # ... this turn used it
    assert chat_ui.bot("a").last_plan.messages[0]["content"].startswith("talk like a pirate")


def test_blocks_app_builds(chat_ui):
    import gradio as gr

    list(chat_ui.respond("hi", "saved", "be brief", 0.0, 1.0, 2))
    app = chat_ui.build("saved")
    assert isinstance(app, gr.Blocks)
    kinds = {type(b).__name__ for b in app.blocks.values()}
    assert {"Chatbot", "Slider", "Dropdown", "Textbox", "Button", "Markdown"} <= kinds
    chatbot = next(b for b in app.blocks.values() if isinstance(b, gr.Chatbot))
    assert [m["role"] for m in chatbot.value] == ["user", "assistant"]
    assert {"Send", "Stop", "Clear conversation", "New session"} <= {
        b.value for b in app.blocks.values() if isinstance(b, gr.Button)}
    sliders = {b.label: b for b in app.blocks.values() if isinstance(b, gr.Slider)}
    assert any("temperature" in k for k in sliders) and any("top-p" in k for k in sliders)


def test_repl_streams_and_handles_commands(runs_dir):
    bot = ChatBot(CountLLM(), ChatStore().open("r"), system="sys")
    lines = reader(["hello", "/remember my name is Ada", "/facts", "/context", "/system be terse",
                    "/forget 1",
                    "/clear", "/nonsense", "/quit"])
    written = []
    answers = run_repl(bot, SamplingParams(max_new_tokens=2), read=lines, write=written.append)
    text = "".join(written)
    assert answers == 1
    # after the greeting and "bot> ", piece by piece
    assert written[2:4] == ["one ", "two "]
    assert "1. my name is Ada" in text and "tokens in the prompt" in text and ("system prompt: 'be "
                                                                               "terse'") in text
    assert "forgot: my name is Ada" in text and "conversation cleared" in text and "/remember TEXT" in text
    assert ChatStore().open("r").meta["system"] == "be terse" and ChatStore().open("r").messages == []
    assert handle_command(bot, "/quit") is None


def test_repl_survives_a_message_that_does_not_fit(runs_dir):
    bot = ChatBot(CountLLM(window=20), ChatStore().open("r2"), system="sys")
    lines = reader(["word " * 40, "ok"])
    written = []
    answers = run_repl(bot, SamplingParams(max_new_tokens=2), read=lines, write=written.append)
    assert answers == 1 and "error: the system prompt and the newest message take" in "".join(written)


def test_a_resumed_session_keeps_its_own_system_prompt(runs_dir):
    from llmlab.chat.bot import DEFAULT_SYSTEM

    # e.g. started with llmlab chat repl --system
    ChatStore().open("pirate", system="talk like a pirate")
    chat = ChatUI(CountLLM(), ChatStore())                            # llmlab chat ui without --system
    assert chat.load("pirate")[1] == "talk like a pirate"
    assert ChatStore().open("pirate").meta["system"] == "talk like a pirate"
    assert chat.load("fresh")[1] == DEFAULT_SYSTEM
    # --system wins
    assert ChatUI(CountLLM(), ChatStore(), system="be terse").load("pirate")[1] == "be terse"


def test_ctrl_c_stops_the_answer_not_the_repl(runs_dir):
    bot = ChatBot(CountLLM(), ChatStore().open("r3"), system="sys")
    written = []

    def write(text):
        if text == "three ":
            raise KeyboardInterrupt          # the user presses Ctrl-C while the answer streams
        written.append(text)

    answers = run_repl(bot, SamplingParams(max_new_tokens=5), read=reader(["count", "again"]), write=write)
    assert answers == 2 and " [stopped]" in written
    history = ChatStore().open("r3").history()
    # the piece being printed when Ctrl-C came had been generated already, so it is kept
    assert [m["content"] for m in history] == ["count", "one two three ", "again", "one two three "]


def test_lab_errors_reach_the_page_as_gradio_errors(chat_ui):
    import gradio as gr

    from llmlab.chat.ui import shown_errors

    with pytest.raises(gr.Error, match="not a usable session name"):
        shown_errors(chat_ui.load)("my notes")                 # typed into the session box
    with pytest.raises(gr.Error, match="nothing to remember"):
        shown_errors(chat_ui.remember)("  ", "a")
    with pytest.raises(gr.Error, match="not a usable session name"):
        list(shown_errors(chat_ui.respond)("hi", "../up", "be brief", 0.0, 1.0, 2))
    assert [f[1] for f in shown_errors(chat_ui.respond)("hi", "ok", "be brief", 0.0, 1.0, 2)][-1] == ""


def test_a_typed_session_name_makes_no_folder_until_its_first_message(chat_ui, runs_dir):
    chat, _, meter, _ = chat_ui.load("just-looking")              # what the session box sends for any name
    chat_ui.clear("just-looking")
    assert chat == [] and not (runs_dir / "chat" / "just-looking").exists()
    list(chat_ui.respond("hello", "just-looking", "be brief", 0.0, 1.0, 2))
    assert ChatStore().open("just-looking").history()[0] == {"role": "user", "content": "hello"}


def test_open_bots_are_bounded_least_recently_used_first(runs_dir, monkeypatch):
    import llmlab.chat.ui as ui

    monkeypatch.setattr(ui, "MAX_OPEN_SESSIONS", 3)
    chat = ChatUI(CountLLM(), ChatStore(), system="be brief")
    list(chat.respond("remember me", "first", "be brief", 0.0, 1.0, 2))
    for i in range(10):
        chat.load(f"name{i}")
    chat.load("name8")                                                # used again: the newest
    assert list(chat._bots) == ["name7", "name9", "name8"]
    assert chat.load("first")[0][0]["content"] == "remember me"       # let go, read back from disk


def test_load_shows_turns_saved_since_and_meters_the_loaded_conversation(runs_dir):
    llm = CountLLM()
    chat = ChatUI(llm, ChatStore(), system="be brief")
    assert chat.load("s")[2] == "context: 0 / 200 tokens"
    elsewhere = ChatStore().open("s")                                 # e.g. the REPL, in another process
    elsewhere.add("user", "hello there")
    elsewhere.add("assistant", "one two")
    shown, _, meter, _ = chat.load("s")
    assert [m["content"] for m in shown] == ["hello there", "one two"]
    whole = llm.render_chat([{"role": "system", "content": "be brief"}, {"role": "user",
                                                                         "content": "hello there"},
                             {"role": "assistant", "content": "one two"}])
    assert meter.startswith(f"context: {len(whole.split())} / 200 tokens (the saved conversation")
    assert ChatUI(llm, ChatStore(), system="be brief").load("s")[2] == meter    # a server started afterwards


class SlowLLM(CountLLM):
    """CountLLM with a pause before each word, so the page can be seen mid-answer."""

    def _generate(self, prompt, params):
        import time

        for delta in super()._generate(prompt, params):
            time.sleep(0.25)
            yield delta


def test_the_page_streams_an_answer_and_a_reload_shows_the_saved_conversation(runs_dir, browser, monkeypatch):
    import re
    import socket

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    chat = ChatUI(SlowLLM(), ChatStore(), system="be brief")
    # built before the message: the page must not show this state
    app = chat.build("web")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        meter = page.get_by_text(re.compile(r"^context: \d+ / 200 tokens"))
        assert meter.inner_text(timeout=30_000).startswith("context: 0 / 200")
        box = page.get_by_placeholder("Type a message and press Enter")
        box.fill("hello browser")
        box.press("Enter")
        page.get_by_text("one two", exact=False).first.wait_for(timeout=30_000)
        # caught mid-stream: words still coming
        assert page.get_by_text("five", exact=False).count() == 0
        page.get_by_text("one two three four five", exact=False).first.wait_for(timeout=30_000)
        page.wait_for_function("() => !document.querySelector('.generating, .pending')", timeout=30_000)
        page.reload()
        page.get_by_text("hello browser").first.wait_for(timeout=30_000)
        page.get_by_text("one two three four five", exact=False).first.wait_for(timeout=30_000)
        used = int(re.match(r"context: (\d+) /", meter.inner_text(timeout=30_000)).group(1))
        assert used > 0
    finally:
        page.close()
        app.close()
