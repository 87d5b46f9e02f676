"""LLM agents: a ReAct loop over `llmlab.llm` with tools (calculator, docs search, memory, clock) and memory
that is fitted to the context window and kept across runs; plus a tiny model trained here to use a tool.

    from llmlab.agents import Agent, build_tools, LongTermMemory
    agent = Agent(load_llm("hf:DIR"), build_tools(["calculator"]), memory=LongTermMemory.open("ada"))
    agent.run("What is 4821 * 377?").answer
See docs/agents.md. None of these modules loads torch when imported (tests/test_layers.py), so `llmlab --help`
stays fast; the toy model (toy.py) is imported where it is trained.
"""

from llmlab.agents.agent import Agent, AgentConfig, AgentResult, AgentStep, print_trace
from llmlab.agents.memory import Fact, LongTermMemory, fit_steps
from llmlab.agents.parser import FinalAnswer, ParseError, ToolCall, parse_step
from llmlab.agents.tools import Observation, Tool, ToolRegistry, build_tools, calculator_tool, clock_tool

__all__ = [
    "Agent", "AgentConfig", "AgentResult", "AgentStep", "print_trace",
    "Fact", "LongTermMemory", "fit_steps",
    "FinalAnswer", "ParseError", "ToolCall", "parse_step",
    "Observation", "Tool", "ToolRegistry", "build_tools", "calculator_tool", "clock_tool",
]
