"""Tools an agent can call: a name, a description, a JSON-schema of arguments, and a function.

    tools = ToolRegistry([calculator_tool(), clock_tool()])
    tools.call("calculator", "4821 + 377")                 # Observation(text="5198", ok=True)
    tools.call("calculator", '{"expression": "2 ** 10"}')  # JSON arguments work too
    tools.call("calculator", "__import__('os')")           # Observation(text="Error: ...", ok=False)

A tool's input is either a JSON object (checked against the schema) or plain text, which goes to the tool's
`text_arg`. Whatever goes wrong inside a tool comes back as an error observation the model can read and
react to, never as a crash of the agent loop; so does a tool that runs past its wall-clock limit
(`Tool.timeout_s`): the loop stops waiting for it and goes on. A thread cannot be stopped from outside, so an
abandoned call still finishes in the background, and one long C call that holds the GIL (a huge integer
power) delays even the waiting: that is why each tool also bounds its own work (the calculator refuses
arguments whose work would be too large before starting it).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmlab.errors import LabError

JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
              "array": list}
MAX_OBSERVATION_CHARS = 2000
TOOL_TIMEOUT_S = 30.0                      # a tool call's wall-clock limit unless the tool sets its own


@dataclass
class Tool:
    name: str
    description: str
    # JSON schema: {"type": "object", "properties": {...}, "required": [...]}
    parameters: dict[str, Any]
    func: Callable[..., str]
    text_arg: str | None = None            # which argument plain-text input fills (None: JSON only)
    timeout_s: float = TOOL_TIMEOUT_S       # wall-clock limit of one call

    def signature(self) -> str:
        """One line for the prompt: `calculator[expression]: Evaluate arithmetic ...`."""
        return f"{self.name}[{self.text_arg or 'JSON arguments'}]: {self.description}"

    def openai_schema(self) -> dict[str, Any]:
        """The tool in the OpenAI `tools=[...]` format (for servers with native tool calling)."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description,
                             "parameters": self.parameters}}


@dataclass
class Observation:
    text: str
    ok: bool = True


@dataclass
class ToolRegistry:
    tools: list[Tool] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise LabError(f"two tools share a name: {names}", hint="give every tool its own name")

    def __iter__(self):
        return iter(self.tools)

    def __len__(self) -> int:
        return len(self.tools)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tools]

    def add(self, tool: Tool) -> None:
        if tool.name in self.names:
            raise LabError(f"a tool named {tool.name!r} is already registered", hint="pick another name")
        self.tools.append(tool)

    def get(self, name: str) -> Tool | None:
        """Exact name first, then case- and separator-insensitive (models write `Calculator`,
        `search-docs`)."""
        for tool in self.tools:
            if tool.name == name:
                return tool
        key = _loose(name)
        return next((t for t in self.tools if _loose(t.name) == key), None)

    def describe(self) -> str:
        return "\n".join(t.signature() for t in self.tools)

    def call(self, name: str, raw_input: str) -> Observation:
        """Run a tool on the model's raw input; every failure becomes an error observation."""
        tool = self.get(name)
        if tool is None:
            return Observation(f"Error: there is no tool named {name!r}. Available tools: "
                               f"{', '.join(self.names)}",
                               ok=False)
        try:
            kwargs = parse_arguments(tool, raw_input)
            text = str(call_with_limit(tool, kwargs))
        except LabError as exc:
            return Observation(f"Error: {exc}", ok=False)
        except Exception as exc:          # a tool's bug must not end the run: the model sees it and goes on
            return Observation(f"Error: {tool.name} failed: {type(exc).__name__}: {exc}", ok=False)
        if len(text) > MAX_OBSERVATION_CHARS:
            text = text[:MAX_OBSERVATION_CHARS] + (f" ... [{len(text) - MAX_OBSERVATION_CHARS} more "
                                                   f"characters cut]")
        return Observation(text)


def call_with_limit(tool: Tool, kwargs: dict[str, Any]) -> Any:
    """`tool.func(**kwargs)` in a worker thread; a LabError when it has not returned after
    `tool.timeout_s`."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = tool.func(**kwargs)
        except BaseException as exc:      # handed to the caller's thread, which reports it
            outcome["error"] = exc

    worker = threading.Thread(target=run, name=f"tool-{tool.name}", daemon=True)
    worker.start()
    worker.join(tool.timeout_s)
    if worker.is_alive():
        raise LabError(f"{tool.name} did not finish within {tool.timeout_s:g} s and was abandoned",
                       hint="ask for something smaller, or try another way")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _loose(name: str) -> str:
    return name.lower().replace("-", "_").replace(" ", "_")


def parse_arguments(tool: Tool, raw: str) -> dict[str, Any]:
    """A JSON object is checked against the schema; anything else is plain text for `tool.text_arg`."""
    raw = raw.strip()
    schema = tool.parameters.get("properties", {})
    required = tool.parameters.get("required", [])
    value: Any = None
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None                   # not JSON after all: treat it as text below
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(schema))
        if unknown:
            raise LabError(f"{tool.name} has no argument {', '.join(map(repr, unknown))}",
                           hint=f"its arguments are {', '.join(schema) or 'none'}")
        for key, spec in schema.items():
            if key in value and "type" in spec and not _has_type(value[key], spec["type"]):
                raise LabError(f"{tool.name}'s argument {key!r} must be a {spec['type']}, got {value[key]!r}",
                               hint=f"pass {key} as a {spec['type']}")
        kwargs = value
    elif tool.text_arg is not None:
        kwargs = {tool.text_arg: raw} if raw or tool.text_arg in required else {}
    elif not raw:
        kwargs = {}
    else:
        raise LabError(f"{tool.name} takes JSON arguments",
                       hint=f"write {tool.name}[{{...}}] with {', '.join(schema)}")
    missing = [k for k in required if k not in kwargs or kwargs[k] in ("", None)]
    if missing:
        raise LabError(f"{tool.name} needs {', '.join(missing)}", hint=f"write {tool.name}[<{missing[0]}>]")
    return kwargs


def _has_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, JSON_TYPES.get(kind, object))


def _schema(**props: tuple[str, str]) -> dict[str, Any]:
    """_schema(expression=("string", "what to compute")) -> a JSON schema with every listed property
    required."""
    return {"type": "object", "properties": {k: {"type": t, "description": d} for k, (t, d) in props.items()},
            "required": list(props)}


# ---- built-in tools --------------------------------------------------------------------------------------

def calculator_tool() -> Tool:
    from llmlab.agents.calculator import calculate

    return Tool("calculator", "Evaluate arithmetic exactly: + - * / // % ** (^ is a power), parentheses, "
                "sqrt, log, exp, sin, cos, abs, round, min, max, pi, e. Returns the number.",
                _schema(expression=("string", "the arithmetic to evaluate, e.g. 4821 * 377")), calculate,
                "expression",
                timeout_s=5.0)


def clock_tool(now: Callable[[], dt.datetime] | None = None) -> Tool:
    """The current date and time (local, or in an IANA time zone such as Europe/Paris)."""

    def clock(timezone: str = "") -> str:
        stamp = now() if now is not None else dt.datetime.now().astimezone()
        if timezone.strip():
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                stamp = stamp.astimezone(ZoneInfo(timezone.strip()))
            except (ZoneInfoNotFoundError, ValueError):
                raise LabError(f"unknown time zone {timezone.strip()!r}",
                               hint="use an IANA name such as UTC or Europe/Paris, or leave it "
                                    "empty") from None
        return stamp.strftime("%A %Y-%m-%d %H:%M:%S %Z").strip()

    schema = {"type": "object", "properties": {"timezone": {"type": "string",
                                                            "description": "IANA time zone; empty for local "
                                                                           "time"}},
              "required": []}
    return Tool("clock", "The current date, weekday and time. Input: a time zone such as UTC, or nothing.",
                schema, clock, "timezone")


class DocsIndex(Protocol):
    """What the docs-search tool needs from an index: llmlab.rag's `Index` has it."""

    def search(self, query: str, k: int = ...) -> Sequence[Any]: ...


def docs_search_tool(index: DocsIndex, k: int = 3, max_chars: int = 500) -> Tool:
    """Search the Python documentation (or any index with `search(query, k)`); hits come back numbered."""

    def search(query: str) -> str:
        hits = list(index.search(query, k=k))
        if not hits:
            return "No results."
        lines = []
        for i, hit in enumerate(hits, 1):
            chunk = getattr(hit, "chunk", hit)
            source = getattr(chunk, "doc", None) or getattr(chunk, "source", None) or ""
            text = " ".join(str(getattr(chunk, "text", chunk)).split())
            lines.append(f"[{i}]{f' ({source})' if source else ''} {text[:max_chars]}")
        return "\n".join(lines)

    # the first search loads the embedding model, which takes a while on a slow CPU
    return Tool("search_docs", f"Search the Python documentation; returns the {k} best passages.",
                _schema(query=("string", "what to look for, in a few words")), search, "query",
                timeout_s=120.0)


def python_docs_tool(index: str = "python-docs", k: int = 3) -> Tool:
    """search_docs over an llmlab.rag index: a folder, or a name under runs/rag/ (hybrid dense + BM25 search).

    The index is built once with `llmlab rag index --corpus python-docs`; the agent only loads it.
    """
    try:
        from llmlab.rag.index import index_dir, open_index
    except ImportError as exc:
        raise LabError("the search tool needs llmlab.rag, which could not be imported",
                       hint=f"install the rag extra: pip install 'llmlab[rag]' ({exc})") from exc
    if not (index_dir(index) / "manifest.json").exists():
        raise LabError(f"no docs index named {index!r} (looked in {index_dir(index)})",
                       hint="build it first: llmlab rag index --corpus python-docs")
    loaded = open_index(index)      # the same lookup as `llmlab rag`, and a stale index is refused
    # a keyword-only index (built with embed_model=none) has no vectors: search it by BM25 alone
    return docs_search_tool(_KeywordSearch(loaded) if loaded.manifest.get("store") == "none" else loaded, k=k)


class _KeywordSearch:
    def __init__(self, index: Any):
        self.index = index

    def search(self, query: str, k: int = 3):
        return self.index.search(query, k=k, method="bm25")


def memory_tools(memory: Any) -> list[Tool]:
    """`remember[fact]` and `recall[query]` over a LongTermMemory: notes that outlive the run."""

    def remember(fact: str, key: str = "") -> str:
        memory.add(fact, key=key or None)
        return f"Saved: {fact}"

    def recall(query: str) -> str:
        found = memory.search(query, k=3)
        return "\n".join(f"- {f.text}" for f in found) if found else "Nothing relevant is remembered."

    remember_schema = {"type": "object", "properties": {
        "fact": {"type": "string", "description": "the fact to keep, as a full sentence"},
        "key": {"type": "string",
                "description": "optional key; a new fact with the same key replaces the old"}},
        "required": ["fact"]}
    return [Tool("remember", "Save a fact for later runs (a sentence).", remember_schema, remember, "fact"),
            Tool("recall", "Look up saved facts relevant to a query.",
                 _schema(query=("string", "what to look up")), recall, "query")]


BUILTIN = ("calculator", "clock", "search", "memory")


def build_tools(names: Iterable[str], memory: Any = None,
                docs_index: DocsIndex | str = "python-docs") -> ToolRegistry:
    """The registry for `--tools calculator,clock,search,memory` (`docs_index`: an index object, folder or
    name)."""
    tools: list[Tool] = []
    for name in [n.strip() for n in names if n.strip()]:
        if name == "calculator":
            tools.append(calculator_tool())
        elif name == "clock":
            tools.append(clock_tool())
        elif name in ("search", "search_docs"):
            tools.append(
                python_docs_tool(docs_index) if isinstance(docs_index, str) else docs_search_tool(docs_index)
            )
        elif name == "memory":
            if memory is None:
                raise LabError("the memory tools need a long-term memory",
                               hint="give the agent a --memory name")
            tools.extend(memory_tools(memory))
        else:
            raise LabError(f"unknown tool {name!r}", hint=f"choose from {', '.join(BUILTIN)}")
    return ToolRegistry(tools)
