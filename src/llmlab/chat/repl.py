"""The terminal chat: streams each answer as it is generated; slash commands manage the session.

    llmlab chat repl --model runs/pretrain/tiny --session notes

/remember TEXT   keep a fact across any trimming      /facts     list them      /forget N   drop fact N
/clear           forget the conversation (facts stay) /context   what the last prompt held
/system TEXT     change the system prompt             /quit      leave (Ctrl-D too); everything is saved
Ctrl-C while an answer streams stops that answer (what was said is kept) and the chat goes on.
"""

from __future__ import annotations

from collections.abc import Callable

from llmlab.chat.bot import ChatBot
from llmlab.errors import LabError
from llmlab.generation import SamplingParams

HELP = __doc__.split("\n\n", 2)[2].strip()


def handle_command(bot: ChatBot, line: str) -> str | None:
    """Run a slash command; returns the text to print, or None for /quit."""
    command, _, arg = line[1:].partition(" ")
    arg = arg.strip()
    session = bot.session
    if command in ("quit", "exit", "q"):
        return None
    if command == "remember":
        session.remember(arg)
        return f"remembered ({len(session.facts)} facts)"
    if command == "facts":
        return "\n".join(f"{i + 1}. {f}" for i, f in enumerate(session.facts)) or "no facts yet"
    if command == "forget":
        if not arg.isdigit():
            raise LabError("/forget needs a fact's number", hint="see the numbers with /facts")
        return f"forgot: {session.forget(int(arg) - 1)}"
    if command == "clear":
        session.clear()
        bot.last_plan = None
        return "conversation cleared (facts kept)"
    if command == "context":
        summary = session.meta.get("summary")
        text = bot.last_plan.report() if bot.last_plan else bot.meter_text()
        return text + (f"\nsummary of trimmed turns: {summary}" if summary else "")
    if command == "system":
        bot.system = arg or None
        session.meta["system"] = bot.system
        session.save()
        return f"system prompt: {bot.system!r}"
    return HELP


def run_repl(bot: ChatBot, params: SamplingParams, read: Callable[[str], str] = input,
             write: Callable[[str], None] | None = None) -> int:
    """Read lines until /quit or end of input; returns how many answers were given."""
    import sys

    def out(text: str) -> None:
        if write:
            write(text)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()

    out(f"chatting with {bot.llm.name} (window {bot.llm.context_window} tokens), session "
        f"{bot.session.name!r}; "
        "/help for commands\n")
    answers = 0
    while True:
        try:
            line = read("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            out("\n")
            return answers
        if not line:
            continue
        try:
            if line.startswith("/"):
                reply = handle_command(bot, line)
                if reply is None:
                    return answers
                out(reply + "\n")
                continue
            out("bot> ")
            stream = bot.reply_stream(line, params)
            try:
                for piece in stream:
                    out(piece)
            except KeyboardInterrupt:     # stops this answer, not the chat; the partial answer is saved
                stream.close()
                out(" [stopped]")
            answers += 1
            out(f"\n   [{bot.meter_text()}]\n")
        except LabError as exc:           # a message too long for the window: say so and keep chatting
            out(f"\nerror: {exc}\n")
