"""Read one ReAct step out of a model's text: a tool call, a final answer, or a parse error to show the model.

    parse_step("Thought: I need to add.\nAction: calculator[4821+377]")
    # -> ToolCall(thought="I need to add.", tool="calculator", input="4821+377")
    parse_step("Final Answer: 5198")             # -> FinalAnswer(thought="", answer="5198")

Small slips are forgiven: any case, `Action: tool(input)`, `Action: tool: input`, LangChain's two-line
`Action: tool` + `Action Input: input`, a missing closing bracket, backticks, and an Observation the model
wrote itself (everything from it on is dropped). Text with neither an action nor an answer is a ParseError
whose message tells the model the expected format; the agent hands it back as the next observation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ACTION = re.compile(r"^[ \t>*`]*action[ \t]*(?:\d+[ \t]*)?:[ \t]*(?P<rest>.*)$", re.IGNORECASE | re.MULTILINE)
ACTION_INPUT = re.compile(r"^[ \t>*`]*action[ \t_]*input[ \t]*:[ \t]*(?P<rest>.*)",
                          re.IGNORECASE | re.MULTILINE | re.DOTALL)
FINAL = re.compile(r"^[ \t>*`]*final[ \t_]*answer[ \t]*:?[ \t]*(?P<rest>.*)",
                   re.IGNORECASE | re.MULTILINE | re.DOTALL)
OBSERVATION = re.compile(r"^[ \t]*observation[ \t]*(?:\d+[ \t]*)?:", re.IGNORECASE | re.MULTILINE)
THOUGHT = re.compile(r"^[ \t]*thought[ \t]*(?:\d+[ \t]*)?:[ \t]*", re.IGNORECASE)
CALL = re.compile(r"^(?P<name>[A-Za-z_][\w.-]*)[ \t]*(?P<open>[\[(:{])?(?P<rest>.*)$", re.DOTALL)
CLOSE = {"[": "]", "(": ")", "{": "}"}

FORMAT_HINT = ("Write either\nThought: <your reasoning>\nAction: <tool name>[<input>]\n"
               "or\nThought: <your reasoning>\nFinal Answer: <the answer>")


@dataclass
class ToolCall:
    thought: str
    tool: str
    input: str
    text: str = ""           # the model's text this step came from (after cutting a self-written Observation)


@dataclass
class FinalAnswer:
    thought: str
    answer: str
    text: str = ""


@dataclass
class ParseError:
    message: str             # shown to the model as the observation, with FORMAT_HINT
    text: str = ""


Step = ToolCall | FinalAnswer | ParseError


def parse_step(text: str) -> Step:
    """The first action or final answer in `text` (whichever comes first), else a ParseError."""
    cut = OBSERVATION.search(text)
    text = text[:cut.start()] if cut else text
    text = text.rstrip()
    action, final = ACTION.search(text), FINAL.search(text)
    if action and (not final or action.start() < final.start()):
        return _tool_call(text, action)
    if final:
        answer = _strip_code(final.group("rest").strip())
        if not answer:
            return ParseError("the Final Answer is empty", text)
        return FinalAnswer(_thought(text[:final.start()]), answer, text)
    if not text.strip():
        return ParseError("the reply was empty", text)
    return ParseError("no Action or Final Answer was found in the reply", text)


def _tool_call(text: str, action: re.Match) -> Step:
    thought = _thought(text[:action.start()])
    rest = _strip_code(action.group("rest").strip())
    call = CALL.match(rest)
    if not call:
        return ParseError(f"could not read a tool name from 'Action: {rest}'", text)
    name, opener, body = call.group("name"), call.group("open"), call.group("rest")
    if opener in CLOSE:
        if opener == "{":          # a bare JSON object after the name: keep its brace
            body = "{" + body
        closer = CLOSE[opener]
        if opener != "{" and closer in body:
            body = body[:body.rindex(closer)]     # the last closer: the input may hold brackets of its own
    elif opener is None and not body.strip():
        follow = ACTION_INPUT.search(text, action.end())
        body = follow.group("rest") if follow else ""
    tool_input = _strip_code(body.strip())
    if len(tool_input) >= 2 and tool_input[0] == tool_input[-1] and tool_input[0] in "\"'":
        tool_input = tool_input[1:-1]
    return ToolCall(thought, name, tool_input, text)


def _thought(prefix: str) -> str:
    return THOUGHT.sub("", prefix.strip(), count=1).strip()


def _strip_code(s: str) -> str:
    return s.strip().strip("`").strip()
