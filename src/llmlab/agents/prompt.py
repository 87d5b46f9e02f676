"""The ReAct prompt an agent sends each step: instructions and tools, the question, recalled memory, the steps
so far.

    text = render_prompt(question, steps, tools, style="react", memory=["the user is Ada"])
    messages = render_messages(question, steps, tools, memory=[...])        # the same, as a chat

Two styles: "react" explains the format and lists the tools (for instruction-following models);
"bare" is only `Tools: ...`, `Question: ...`, `Memory: ...` and the steps, the format a small model
trained on agent traces (llmlab.agents.toy) has seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmlab.agents.tools import ToolRegistry
from llmlab.errors import LabError
from llmlab.llm.base import Message

STYLES = ("react", "bare")

INSTRUCTIONS = """Answer the question as well as you can. You can use these tools:

{tools}

Use this format:

Question: the question to answer
Thought: what to do next
Action: the tool to use and its input, written as tool[input]
Observation: the tool's result (written for you; never write it yourself)
... (Thought, Action and Observation can repeat)
Thought: I know the answer
Final Answer: the answer to the question"""

NO_TOOLS = """Answer the question as well as you can. No tools are available.

Use this format:

Question: the question to answer
Thought: your reasoning
Final Answer: the answer to the question"""


@dataclass
class PastStep:
    """One step already taken: what the model wrote (Thought + Action) and the observation it got back."""
    text: str
    observation: str


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise LabError(f"unknown prompt style {style!r}", hint=f"use one of {', '.join(STYLES)}")


def cue(style: str) -> str:
    """What the prompt ends with so the model starts a step: a "Thought:" for react, nothing for bare."""
    return "Thought:" if style == "react" else ""


def system_text(tools: ToolRegistry, style: str = "react") -> str:
    _check_style(style)
    if style == "bare":
        return f"Tools: {', '.join(tools.names)}\n" if len(tools) else ""
    return (INSTRUCTIONS.format(tools=tools.describe()) if len(tools) else NO_TOOLS) + "\n\n"


def question_text(question: str, memory: Sequence[str] = ()) -> str:
    """The question, then what long-term memory recalled for it: one `Memory:` line per fact, right before
    the first step, where the model reads it as it would an observation."""
    return f"Question: {question}\n" + "".join(f"Memory: {m}\n" for m in memory)


def step_text(step: PastStep) -> str:
    return f"{step.text.strip()}\nObservation: {step.observation}\n"


def render_prompt(question: str, steps: Sequence[PastStep], tools: ToolRegistry, style: str = "react",
                  memory: Sequence[str] = (), dropped: int = 0, answer_now: bool = False) -> str:
    """The whole text prompt for a completion model; `answer_now` ends it with the Final Answer cue
    instead."""
    note = (
        f"({dropped} earlier step{'s' * (dropped != 1)} left out to fit the context window)\n"
        if dropped
        else ""
    )
    end = "Final Answer:" if answer_now else cue(style)
    return (system_text(tools, style) + question_text(question, memory) + note
            + "".join(step_text(s) for s in steps) + end)


def render_messages(question: str, steps: Sequence[PastStep], tools: ToolRegistry, style: str = "react",
                    memory: Sequence[str] = (), dropped: int = 0) -> list[Message]:
    """The prompt as a chat: system (instructions, tools), the question with recalled memory, then each step
    as an assistant message and its observation as a user message."""
    messages: list[Message] = [{"role": "system", "content": system_text(tools, style).strip()},
                               {"role": "user", "content": question_text(question, memory).strip()}]
    if dropped:
        messages[-1]["content"] += (f"\n({dropped} earlier step{'s' * (dropped != 1)} left out to fit the "
                                    f"context window)")
    for s in steps:
        messages.append({"role": "assistant", "content": s.text.strip()})
        messages.append({"role": "user", "content": f"Observation: {s.observation}"})
    return messages
