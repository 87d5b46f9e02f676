"""Graders of the agents project: the ReAct parser step for step against llmlab.agents.parser on hand cases
and seeded replies in every format small models write; the calculator value for value against
llmlab.agents.calculator on seeded expressions, then on hostile input it must refuse quickly.

The learner's calculator runs in a child process (`llmlab.learn.isolated`) with a deadline per expression:
`9**9**9` computed for real would hang a thread, and the check with it.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from llmlab.learn.grading import Mismatch


# ---- the parser --------------------------------------------------------------------------------------------
def _fields(step) -> tuple:
    """(kind, the fields that must match): a ParseError's message is the learner's own words."""
    kind = type(step).__name__
    if kind == "ToolCall":
        return kind, {"thought": step.thought, "tool": step.tool, "input": step.input, "text": step.text}
    if kind == "FinalAnswer":
        return kind, {"thought": step.thought, "answer": step.answer, "text": step.text}
    if kind == "ParseError":
        return kind, {"text": step.text}
    return kind, {"value": step}


def _show(kind: str, fields: dict) -> str:
    return f"{kind}(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"


def _check_step(ns, text: str, why: str = "") -> None:
    from llmlab.agents.parser import parse_step

    got, expected = ns.parse_step(text), parse_step(text)
    (kind, fields), (want_kind, want) = _fields(got), _fields(expected)
    if kind == want_kind == "ParseError" and not (isinstance(got.message, str) and got.message.strip()):
        raise Mismatch(f"parse_step({text!r}): a ParseError needs a message — the agent shows it to the "
                       f"model")
    if (kind, fields) != (want_kind, want):
        raise Mismatch(f"parse_step({text!r})" + (f" — {why}" if why else "") + f":\nexpected "
                                                                                f"{_show(want_kind, want)}"
                       f"\ngot      {_show(kind, fields)}")


HAND_STEPS = [
    ("Thought: I need to add.\nAction: calculator[4821+377]", "the plain format"),
    ("Action: calculator[2+2]\nObservation: 5\nFinal Answer: 5",
     "the model wrote its own Observation: cut the text there, so the call is read and the made-up answer is "
     "not"),
    ("I know it.\nfinal answer: `42`", "any case; backticks stripped; the thought is the text before"),
    ("Final Answer:", "an empty final answer is a ParseError"),
    ("Action:", "'Action:' with nothing after it names no tool: a ParseError, not a call"),
    ("Action: calculator(3 * (4 + 5))", "the input ends at the LAST closer: it may hold brackets of its own"),
    ("Action: search\nAction Input: \"LoRA\"", "LangChain's two lines; one pair of quotes removed"),
    ("Action: calculator[12 / 4", "a forgotten closing bracket is forgiven"),
    ("Action: calculator: 2 + 2", "'tool: input'"),
    ("Thought: first the tool.\nAction: calculator[1+1]\nFinal Answer: 2",
     "the action comes first, so it is the step (the answer would be a guess before the observation)"),
    ("Final Answer: 7\nAction: calculator[1+1]", "the final answer comes first: it is the step"),
    ("I am not sure what to do.", "neither an action nor a final answer"),
    ("   ", "an empty reply"),
    ("Action: memory{\"fact\": \"Ada likes tea\"}", "a JSON object after the name keeps its brace"),
]
THOUGHTS = ["", "Thought: I need to add these.\n", "I should multiply first.\n",
            "thought: the docs will say.\n",
            "Thought 2: now divide.\n", "> Thought: quoting myself\n"]
TOOLS = ["calculator", "Calculator", "search", "docs.search", "clock"]
INPUTS = ["4821 + 377", "(2 + 3) * [4]", "'quoted'", "\"LoRA adapters\"", "", "sqrt(2) ^ 2", "a] b [c"]
ACTIONS = ["Action: {t}[{i}]", "action: {t}({i})", "ACTION: {t}: {i}", "Action: {t}\nAction Input: {i}",
           "Action: `{t}[{i}]`", "Action: {t}[{i}", "Action 1: {t}[{i}]", "  Action:{t}[{i}]",
           "Action: {t} {i}",
           "Action:", "Action: [{i}]", "Action: {t}", "Action: {t}\naction_input: {i}\nmore lines"]
ANSWERS = ["5198", "42", "Paris, France", "`7`", "", "two\nlines"]
FINALS = ["Final Answer: {a}", "final answer: `{a}`", "FINAL ANSWER {a}", "Final_Answer: {a}",
          "* Final Answer: {a}"]
NEITHER = ["I am not sure what to do.", "", "   ", "Let me think about 4821 + 377.", "Answer: 5"]
TAILS = ["", "", "\nObservation: 9999\nFinal Answer: 9999", "\nobservation 2: made up",
         "\n\nFinal Answer: 12", "  \n"]


def _reply(rng: random.Random) -> str:
    action = rng.choice(ACTIONS).format(t=rng.choice(TOOLS), i=rng.choice(INPUTS))
    final = rng.choice(FINALS).format(a=rng.choice(ANSWERS))
    body = rng.choice([action, action, final, final, f"{final}\n{action}", f"{action}\n{final}",
                       rng.choice(NEITHER)])
    return rng.choice(THOUGHTS) + body + rng.choice(TAILS)


def grade_parser(ns) -> None:
    for text, why in HAND_STEPS:
        _check_step(ns, text, why)
    rng = random.Random(16)
    for _ in range(400):
        _check_step(ns, _reply(rng))


# ---- the calculator ----------------------------------------------------------------------------------------
# per expression; llmlab's calculator answers or refuses each in well under a millisecond
SECONDS = 2.0

HAND_VALUES = ["4821 + 377 * (2 - 5)", "2 ^ 10", "7 / 2", "7 // 2", "-7 % 3", "sqrt(2) ^ 2", "3 × 4 − 5 ÷ 2",
               "round(2.5)", "round(3.14159, 2)", "2 ** -1", "-(2 + 3) ** 2", "max(3, 9, 4) - min(2, 8)",
               "pi * 2 - tau", "floor(7.9) + ceil(7.1)", "4821 ** 3", "10 ** 3000", "abs(-5) + log10(1000)"]
REFUSED = [("", "an empty expression"), ("1 / 0", "division by zero"), ("sqrt(-1)", "outside sqrt's domain"),
           ("log(0)", "outside log's domain"), ("True + 1", "True is a bool, not a number"),
           ("'a' * 3", "a string is not a number"), ("1 < 2", "comparisons are not arithmetic"),
           ("1 & 3", "bit operations are not arithmetic"), ("x + 1", "an unknown name"),
           ("round(x=1)", "keyword arguments"), ("1e308 * 10", "a float overflowing to inf"),
           ("exp(1000)", "exp() past the largest float"), ("(-8) ** 0.5", "a complex result"),
           ("10 ** 400 * 1.0", "an int too large to become a float"), ("2 +", "not an expression")]
HOSTILE = [("9**9**9", "369 million digits: bound the power before computing it"),
           ("99^99^99", "`^` is a power too, read left to right: (99^99)^99 has about 19,500 digits"),
           ("10**10**10", "ten billion digits"),
           ("2**10**8", "an exponent of 10**8"),
           ("(10**1000)**(10**1000)", "a power of two huge numbers"),
           ("2**9000 * 2**9000", "each factor is fine; the product is past the limit"),
           ("round(1, -10**9)", "round(x, n) computes 10**|n|: bound n before round() runs"),
           ("round(7, -(10**8))", "round's digits"),
           ("(1).__class__", "attribute access"),
           ("().__class__.__bases__[0].__subclasses__()", "the classic escape from eval"),
           ("__import__('os').getcwd()", "an import: with eval this runs any program"),
           ("__import__('os')", "an import: any name that is not on the list of functions is refused"),
           ("[].__len__()", "a method call"),
           ("(lambda: 1)()", "a lambda"),
           ("(lambda x: x ** x)(9)", "a lambda"),
           ("[x for x in (1, 2)]", "a comprehension"),
           ("sum([1, 2])", "a function that is not on the list"),
           ("1+" * 240 + "1", "240 nested additions: refuse past MAX_DEPTH instead of recursing"),
           ("-" * 450 + "1", "450 nested minus signs"),
           ("abs(" * 80 + "1" + ")" * 80, "80 nested calls"),
           ("2**" * 100 + "2", "a tower of 100 powers"),
           ("9" * 600, "600 characters: longer than MAX_INPUT_CHARS"),
           ("1" + "*1" * 5000, "10,001 characters"),
           ("factorial(10**6)", "an unknown function")]


def _expression(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.3:
        kind = rng.random()
        if kind < 0.45:
            return str(rng.randint(0, 9999))
        if kind < 0.6:
            return rng.choice(["2.5", "0.1", "1.5e3", "0.75", "pi", "e", "tau"])
        if kind < 0.8:
            name = rng.choice(["sqrt", "abs", "round", "floor", "ceil", "log", "log10", "exp", "sin", "cos"])
            arg = _expression(rng, 0) if name != "exp" else str(rng.randint(-5, 5))
            return f"{name}({arg})"
        if kind < 0.9 or depth == 0:
            return f"round({_expression(rng, max(depth - 1, 0))}, {rng.randint(-3, 3)})"
        return f"{rng.choice(['min', 'max'])}({_expression(rng, depth - 1)}, {_expression(rng, 0)})"
    op = rng.choice(["+", "-", "*", "/", "//", "%", "**", "^", "×", "÷", "−"])
    if op in ("**", "^"):
        right = str(rng.randint(-2, 6))
    else:
        right = _expression(rng, depth - 1)
    left = _expression(rng, depth - 1)
    text = f"{left} {op} {right}"
    return f"-({text})" if rng.random() < 0.15 else f"({text})" if rng.random() < 0.5 else text


def _reference(expression: str):
    from llmlab.agents.calculator import CalculatorError, evaluate

    try:
        return "value", evaluate(expression)
    except CalculatorError as exc:
        return "refused", exc.message


def _calls(ns, expressions: list[str]):
    """The learner's evaluate on each expression, in a child process with a deadline per call (in this process
    only for a namespace without a file: llmlab's own objects, which are trusted)."""
    from llmlab.learn.isolated import IsolatedCall, call_isolated

    path = getattr(ns, "__file__", None)
    if path:
        return list(call_isolated(Path(path), "evaluate", expressions, SECONDS,
                                  expected_error="llmlab.agents.calculator:CalculatorError"))
    from llmlab.agents.calculator import CalculatorError

    calls = []
    for text in expressions:
        try:
            value = ns.evaluate(text)
            calls.append(IsolatedCall(text, "value", type(value).__name__, repr(value)))
        except Exception as exc:
            calls.append(IsolatedCall(text, "raised", type(exc).__name__, "", str(exc),
                                      isinstance(exc, CalculatorError)))
    return calls


def _same_number(call, value) -> bool:
    if call.type != type(value).__name__:
        return False
    try:
        got = int(call.value) if isinstance(value, int) else float(call.value)
    except ValueError:
        return False
    return got == value if isinstance(value, int) else math.isclose(got, value, rel_tol=1e-12, abs_tol=1e-300)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:60]}... ({len(text):,} characters)"


def _verdict(call, expected, why: str) -> None:
    head = f"evaluate({_short(repr(call.argument))})" + (f" — {why}" if why else "")
    if call.kind == "timeout":
        raise Mismatch(f"{head}: did not return within {SECONDS:g} s (the child process running it was "
                       f"stopped) — "
                       "a tool the model can call must refuse costly input before starting the work")
    if call.kind == "crashed":
        raise Mismatch(f"{head}: the process running your calculator died: {call.error}")
    if call.type == "NotImplementedError":
        raise Mismatch(call.where)            # "not written yet: ... (calculator.py:NN, in _eval)"
    kind, value = expected
    if kind == "value":
        if call.kind != "value":
            raise Mismatch(f"{head}: expected {_short(repr(value))}, but it raised {call.type}: {call.error}"
                           + (f"\n    at {call.where}" if call.where else ""))
        if not _same_number(call, value):
            raise Mismatch(
                f"{head}: expected {type(value).__name__} {_short(repr(value))}, got {call.type} "
                f"{_short(call.value)}"
                + (
                    " — ints stay exact ints (4821 ** 3), / gives a float"
                    if call.type != type(value).__name__
                    else ""
                )
            )
        return
    if call.kind == "value":
        raise Mismatch(f"{head}: returned {call.type} {_short(call.value)}, expected a refusal "
                       f"(CalculatorError: {value})")
    if not call.expected_error:
        raise Mismatch(
            f"{head}: raised {call.type}: {call.error[:120]} — refuse with "
            f"CalculatorError(message, "
            f"hint=...) instead (llmlab says: {value})" + (f"\n    at {call.where}" if call.where else "")
        )


def grade_calculator(ns) -> None:
    rng = random.Random(16)
    generated = [_expression(rng, rng.randint(1, 4)) for _ in range(200)]
    cases = ([(text, "") for text in HAND_VALUES] + REFUSED + [(text, "") for text in generated] + HOSTILE)
    calls = _calls(ns, [text for text, _ in cases])
    for call, (text, why) in zip(calls, cases, strict=False):
        _verdict(call, _reference(text), why)
