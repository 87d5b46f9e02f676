"""Tools: the calculator against Python's own arithmetic and its refusals, argument parsing (text and JSON),
the registry's error observations, the clock, docs search behind its small interface, and the ReAct parser."""

import datetime as dt
import random

import pytest

from llmlab.agents.calculator import CalculatorError, calculate, evaluate
from llmlab.agents.parser import FinalAnswer, ParseError, ToolCall, parse_step
from llmlab.agents.tools import ToolRegistry, build_tools, calculator_tool, clock_tool


def test_calculator_matches_python_on_random_arithmetic():
    rng = random.Random(0)
    for _ in range(300):
        a, b, c = rng.randint(-10**6, 10**6), rng.randint(-999, 999), rng.randint(1, 99)
        op1, op2 = rng.choice("+-*"), rng.choice(["+", "-", "*", "//", "%", "/"])
        text = f"({a} {op1} {b}) {op2} {c}"
        assert evaluate(text) == eval(text)                     # eval only on the test's own numbers


@pytest.mark.parametrize("text, value", [
    ("2 ^ 10", 1024), ("2 ** -1", 0.5), ("-(3 - 5) * 2", 4), ("sqrt(16) + abs(-2)", 6.0), ("max(1, 7, 3)", 7),
    ("round(pi, 2)", 3.14), ("10 ÷ 4", 2.5), ("6 × 7", 42), ("1e3 / 8", 125.0),
])
def test_calculator_values(text, value):
    assert evaluate(text) == value


def test_calculator_formats_numbers():
    assert (
        calculate("0.1 + 0.2") == "0.3" and calculate("10 / 2") == "5" and calculate("2 ** 70") == str(2**70)
    )
    assert calculate("1 / 3") == "0.333333333333"


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('ls')", "calls other than the math functions"),
    ("x + 1", "unknown name 'x'"),
    ("open('/etc/passwd')", "calls other than the math functions"),
    ("(1).__class__", "attribute access"),
    ("math.pi", "attribute access"),
    ("[1, 2][0]", "not arithmetic"),
    ("'a' * 3", "'a' is not a number"),
    ("lambda: 1", "lambdas"),
    ("1 if 1 else 2", "IfExp"),
    ("9 ** 9 ** 9", "digits"),
    ("2 ** 100000", "digits"),
    ("10 ** 5000 * 10 ** 5000", "digits"),
    ("2.0 ** 5000", "too large"),
    ("1 << 100000", "bit operations"),
    ("(-8) ** 0.5", "complex"),
    ("1 / 0", "division by zero"),
    ("sqrt(-1)", "undefined"),
    ("log(0)", "log.0. is undefined: math domain error"),
    ("exp(1000)", "too large"),
    ("floor(1e308 * 10)", "too large"),
    ("1e308 * 10", "too large"),
    ("1e308 * 10 - 1e308 * 10", "too large"),
    ("1 +", "not an arithmetic expression"),
    ("", "empty"),
    ("1+" * 300 + "1", "characters"),
    ("-" * 60 + "1", "nests deeper"),
    ("round(2, 10 ** 3000)", "out of range"),
])
def test_calculator_refuses(text, message):
    with pytest.raises(CalculatorError, match=message.replace("(", r"\(").replace("[", r"\[")):
        evaluate(text)


def test_registry_json_and_text_arguments_and_errors():
    tools = ToolRegistry([calculator_tool()])
    assert tools.call("calculator", "6*7").text == "42"
    assert tools.call("Calculator", '{"expression": "6*7"}').text == "42"      # loose name, JSON arguments
    bad = tools.call("calculator", '{"expr": "1"}')
    assert not bad.ok and "has no argument 'expr'" in bad.text
    wrong_type = tools.call("calculator", '{"expression": 5}')
    assert not wrong_type.ok and "must be a string" in wrong_type.text
    empty = tools.call("calculator", "")
    assert not empty.ok and "needs expression" in empty.text
    assert tools.call("nope", "1").text.startswith("Error: there is no tool named 'nope'. Available tools: "
                                                   "calculator")


def test_registry_rejects_duplicate_names_and_unknown_builtins():
    from llmlab.errors import LabError

    with pytest.raises(LabError, match="share a name"):
        ToolRegistry([calculator_tool(), calculator_tool()])
    with pytest.raises(LabError, match="unknown tool 'web'"):
        build_tools(["web"])
    with pytest.raises(LabError, match="long-term memory"):
        build_tools(["memory"])


def test_openai_schema_and_signature():
    tool = calculator_tool()
    schema = tool.openai_schema()
    assert schema["type"] == "function" and schema["function"]["name"] == "calculator"
    assert schema["function"]["parameters"]["required"] == ["expression"]
    assert tool.signature().startswith("calculator[expression]: ")


def test_clock_local_and_time_zones():
    fixed = dt.datetime(2024, 3, 1, 12, 30, 0, tzinfo=dt.timezone.utc)
    tools = ToolRegistry([clock_tool(now=lambda: fixed)])
    assert tools.call("clock", "").text == "Friday 2024-03-01 12:30:00 UTC"
    assert tools.call("clock", "Asia/Tokyo").text == "Friday 2024-03-01 21:30:00 JST"
    unknown = tools.call("clock", "Mars/Olympus")
    assert not unknown.ok and "unknown time zone" in unknown.text


class FakeIndex:
    """The one method the docs tool needs (llmlab.rag's Index has it): search(query, k) -> hits."""

    class Chunk:
        def __init__(self, doc, text):
            self.doc, self.text = doc, text

    class Hit:
        def __init__(self, chunk):
            self.chunk = chunk

    def __init__(self):
        self.calls = []

    def search(self, query, k=3):
        self.calls.append((query, k))
        if "loop" not in query:
            return []
        return [self.Hit(self.Chunk("break", "The break statement\n  leaves the innermost loop.")),
                self.Hit(self.Chunk("continue", "continue goes on with the next cycle."))][:k]


def test_docs_search_tool_formats_hits():
    index = FakeIndex()
    tools = build_tools(["search"], docs_index=index)
    seen = tools.call("search_docs", "leave a loop early")
    assert seen.text == ("[1] (break) The break statement leaves the innermost loop.\n"
                         "[2] (continue) continue goes on with the next cycle.")
    assert index.calls == [("leave a loop early", 3)]
    assert tools.call("search_docs", "unrelated").text == "No results."


def test_the_docs_tool_opens_a_rag_index_by_name_and_refuses_a_stale_one(tmp_path, monkeypatch):
    from llmlab.agents.tools import python_docs_tool
    from llmlab.errors import LabError
    from llmlab.rag.index import Index, IndexConfig

    monkeypatch.setenv("LLMLAB_RUNS", str(tmp_path / "runs"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "loops.txt").write_text("The break statement leaves the innermost loop early.")
    (docs / "strings.txt").write_text("Strings are immutable sequences of code points.")
    (docs / "files.txt").write_text("open() returns a file object; close it when done.")
    (docs / "dicts.txt").write_text("A dictionary maps keys to values.")
    cfg = IndexConfig(embed_model="none", chunk_unit="chars", chunk_size=80, chunk_overlap=0)
    Index.build(str(docs), cfg, out=tmp_path / "runs" / "rag" / "mydocs", progress=False)
    with pytest.raises(LabError, match="no docs index named 'other'"):
        python_docs_tool("other")
    tool = python_docs_tool("mydocs")
    assert tool.func("leave a loop early").startswith("[1] (loops.txt) The break statement")
    (docs / "loops.txt").write_text("Loops end when their condition is false.")
    with pytest.raises(LabError, match="stale"):
        python_docs_tool("mydocs")


# ---- the parser --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, tool, tool_input", [
    ("Thought: add\nAction: calculator[4821+377]", "calculator", "4821+377"),
    ("action: Calculator(2 * (3 + 4))", "Calculator", "2 * (3 + 4)"),
    ("Action: calculator: 5 - 1", "calculator", "5 - 1"),
    ("Action: calculator\nAction Input: 9 / 3", "calculator", "9 / 3"),
    ("Action: calculator[17*23", "calculator", "17*23"),                      # closing bracket forgotten
    ("Action: `calculator[1+1]`", "calculator", "1+1"),
    ('Action: search_docs[{"query": "list[int]"}]', "search_docs", '{"query": "list[int]"}'),
    ('Action: calculator["3*3"]', "calculator", "3*3"),
    ("Action 1: clock[]", "clock", ""),
])
def test_parser_reads_tool_calls(text, tool, tool_input):
    step = parse_step(text)
    assert isinstance(step, ToolCall) and (step.tool, step.input) == (tool, tool_input)


def test_parser_final_answer_thought_and_self_written_observation():
    step = parse_step("Thought: I know it\nFinal Answer: 5198\n")
    assert isinstance(step, FinalAnswer) and step.answer == "5198" and step.thought == "I know it"
    cut = parse_step("Action: calculator[1+1]\nObservation: 3\nFinal Answer: 3")
    assert isinstance(cut, ToolCall) and cut.text == "Action: calculator[1+1]"
    first = parse_step("Final answer: Paris\nAction: calculator[1]")
    assert isinstance(first, FinalAnswer) and first.answer.startswith("Paris")


@pytest.mark.parametrize("text, message", [
    ("I am not sure.", "no Action or Final Answer"), ("", "empty"), ("Final Answer:",
                                                                     "Final Answer is empty"),
    ("Action: [1+1]", "could not read a tool name"),
])
def test_parser_errors(text, message):
    step = parse_step(text)
    assert isinstance(step, ParseError) and message in step.message


def test_search_tool_reads_a_real_rag_index(tmp_path, runs_dir):
    """An llmlab.rag index (keyword-only, so no embedding model is needed) found by folder or by name."""
    from llmlab.data import Corpus, Document
    from llmlab.errors import LabError
    from llmlab.rag.index import Index, IndexConfig

    # four documents: with two, BM25's idf of a word in one of them is ln 1 = 0
    corpus = Corpus("tiny", [
        Document("loops", "The break statement leaves the nearest enclosing loop."),
        Document("files", "Use open() to read a file and close it when done."),
        Document("maths", "Integers, floats and complex numbers; // floors."),
        Document("strings", "Strings have methods: split, strip, join and format."),
    ])
    cfg = IndexConfig(embed_model="none", chunk_unit="chars", chunk_size=80, chunk_overlap=10)
    Index.build(corpus, cfg, out=runs_dir / "rag" / "tiny", progress=False)
    by_name = build_tools(["search"], docs_index="tiny").call("search_docs", "break statement loop")
    by_folder = build_tools(["search"], docs_index=str(runs_dir / "rag" / "tiny")).call("search_docs", "loop")
    assert by_name.ok and by_name.text.startswith("[1] (loops) The break statement leaves")
    assert by_folder.text.startswith("[1] (loops)")
    with pytest.raises(LabError, match="llmlab rag index"):
        build_tools(["search"], docs_index="missing")


HEAVY = ["round(1, -10**9)", "round(1, -10**6)", "round(10**3000, -3011)", "9 ** 9 ** 9", "(10**3000) ** 2",
         "10**3000 * 10**3000", "2 ** -999999", "1.0000001 ** 999999", "exp(10**3000)", "sqrt(10**3000)",
         "log(10**3000)", "floor(1e308)", "min(" + ", ".join(["10**3000"] * 40) + ")"]


def test_the_calculator_answers_every_heavy_expression_quickly():
    """In a child process with a deadline, so a regression fails the test instead of hanging the suite."""
    import subprocess
    import sys
    import time

    code = ("from llmlab.agents.tools import ToolRegistry, calculator_tool\n"
            f"tools = ToolRegistry([calculator_tool()])\nfor e in {HEAVY!r}:\n    tools.call('calculator', "
            f"e)\n")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert time.perf_counter() - start < 30          # the interpreter's start-up is most of it


def test_a_tool_call_past_its_wall_clock_limit_comes_back_as_an_error():
    import time

    from llmlab.agents.tools import Tool, ToolRegistry, _schema, calculator_tool

    def slow(seconds: str) -> str:
        time.sleep(float(seconds))
        return "done"

    tools = ToolRegistry([Tool("slow", "sleeps", _schema(seconds=("string", "how long")), slow, "seconds",
                               timeout_s=0.2), calculator_tool()])
    start = time.perf_counter()
    seen = tools.call("slow", "5")
    assert not seen.ok and "did not finish within 0.2 s" in seen.text
    assert time.perf_counter() - start < 2
    assert tools.call("slow", "0.01").text == "done"
    assert tools.call("calculator", "6 * 7").text == "42"            # the registry goes on working
