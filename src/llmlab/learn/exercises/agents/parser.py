"""Exercise `parser`: read one ReAct step out of a model's text — a tool call, a final answer, or a parse
error that the agent hands back to the model as its next observation.

Check it with `llmlab learn check agents parser` (hand cases, then seeded replies in every format small models
write, step for step against llmlab.agents.parser).

A small model does not write the format exactly: forgive any case, `Action: tool(input)`, `Action: tool:
input`, LangChain's two lines `Action: tool` + `Action Input: input`, a missing closing bracket, backticks,
and an Observation the model wrote itself (it must never be believed: cut everything from it on).

Given (you may write your own): the regexes, each over the whole text, MULTILINE, any case —
    OBSERVATION   a line starting "Observation:" (or "Observation 2:")
    ACTION        a line "Action: <rest of the line>"        group "rest"     (leading spaces, >, *, `
    allowed) ACTION_INPUT  a line "Action Input: <rest of the text>"   group "rest"
    FINAL         a line "Final Answer: <rest of the text>"   group "rest"     (the colon is optional)
    CALL          "<name><opener><rest>" of an action's rest: groups "name", "open" ([, (, :, { or None),
    "rest" CLOSE         {"[": "]", "(": ")", "{": "}"}
_thought(prefix) (the text before the action without a leading "Thought:"), _strip_code(s) (strips spaces and
backticks), FORMAT_HINT, and the results ToolCall(thought, tool, input, text), FinalAnswer(thought, answer,
text), ParseError(message, text).
"""

from __future__ import annotations

import re  # noqa: F401 - for your code

from llmlab.agents.parser import (  # noqa: F401 - for your code
    ACTION,
    ACTION_INPUT,
    CALL,
    CLOSE,
    FINAL,
    FORMAT_HINT,
    OBSERVATION,
    FinalAnswer,
    ParseError,
    Step,
    ToolCall,
    _strip_code,
    _thought,
)


def parse_step(text: str) -> Step:
    """The first action or final answer in `text` (whichever comes first), else a ParseError.

    1. cut the text at the first OBSERVATION (the model's own, never believed), then .rstrip() it:
       this cut text is the `text` of whatever you return
    2. action = ACTION.search(text), final = FINAL.search(text): when there is an action and it starts before
       any final answer -> return _tool_call(text, action)
    3. a final answer: answer = _strip_code(final.group("rest").strip()); empty -> ParseError;
       else FinalAnswer(_thought(text[:final.start()]), answer, text)
    4. neither: ParseError (say whether the reply was empty or had no Action / Final Answer)

    Examples:
        "Thought: I need to add.\\nAction: calculator[4821+377]"
            -> ToolCall(thought="I need to add.", tool="calculator", input="4821+377", text=<the same text>)
        "Action: calculator[2+2]\\nObservation: 5\\nFinal Answer: 5"
            -> ToolCall(thought="", tool="calculator", input="2+2", text="Action: calculator[2+2]")
        "I know it.\\nfinal answer: `42`"   -> FinalAnswer(thought="I know it.", answer="42", ...)
        "Final Answer:"                     -> ParseError("the Final Answer is empty", ...)
    """
    raise NotImplementedError("parse_step")


def _tool_call(text: str, action: re.Match) -> Step:
    """A ToolCall from an ACTION match (or a ParseError when no tool name can be read).

    thought = _thought(text[:action.start()]);  rest = _strip_code(action.group("rest").strip())
    call = CALL.match(rest); none (e.g. "Action:" with nothing after it) -> ParseError naming `rest`
    name, opener, body = call's groups "name", "open", "rest"; then the input:
        opener "[" or "(":  body up to its LAST closer (the input may hold brackets: calculator[(2+3)*4]);
                            no closer at all: the whole body (a forgotten "]" is forgiven)
        opener "{":         "{" + body (a bare JSON object after the name keeps its brace)
        opener ":":         the body ("Action: calculator: 2+2")
        no opener and an empty body: the text of the first ACTION_INPUT after the action (search from
                            action.end()), "" when there is none
    input = _strip_code(body.strip()), and one pair of matching quotes around it removed ("'2+2'" -> "2+2")

    Examples: "Action: calculator(3 * (4 + 5))"         -> tool "calculator", input "3 * (4 + 5)"
              "Action: search\\nAction Input: \\"LoRA\\""  -> tool "search", input "LoRA"
              "Action: calculator[12 / 4"                -> tool "calculator", input "12 / 4"
    """
    raise NotImplementedError("_tool_call")
