"""LLM agents: a ReAct loop over `llmlab.llm` with tools (calculator, docs search, memory, clock) and memory
that is fitted to the context window and kept across runs; plus a tiny model trained here to use a tool.

    from llmlab.agents import Agent, build_tools, LongTermMemory
    agent = Agent(load_llm("hf:DIR"), build_tools(["calculator"]), memory=LongTermMemory.open("ada"))
    agent.run("What is 4821 * 377?").answer
See docs/agents.md. Names are imported on first use, so `llmlab --help` does not load torch through here.
"""

from importlib import import_module

_WHERE = {
    "Agent": "agent", "AgentConfig": "agent", "AgentResult": "agent", "AgentStep": "agent", "print_trace": "agent",
    "Fact": "memory", "LongTermMemory": "memory", "fit_steps": "memory",
    "FinalAnswer": "parser", "ParseError": "parser", "ToolCall": "parser", "parse_step": "parser",
    "Observation": "tools", "Tool": "tools", "ToolRegistry": "tools", "build_tools": "tools",
    "calculator_tool": "tools", "clock_tool": "tools",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'llmlab.agents' has no attribute {name!r}")
    return getattr(import_module(f"llmlab.agents.{_WHERE[name]}"), name)
