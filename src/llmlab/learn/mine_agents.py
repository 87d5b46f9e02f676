"""`llmlab learn run agents --mine`: llmlab's ReAct agent loop answering arithmetic questions with the
learner's parser reading every step and the learner's calculator as its tool, beside the same questions on
llmlab's pieces.

The model is scripted, so the run takes a second and shows the pieces, not a model: it writes each question's
tool call in another of the formats small models write (brackets, parentheses, `tool: input`, LangChain's two
lines, backticks, a forgotten bracket), once with no action at all (the parser's error goes back to it as the
observation), and asks the calculator for a division by zero and for 9**9**9 (refused at once, not computed).
After an observation it answers with what the tool said.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM, Delta

PATCHES = {   # exercise -> [(module patched, its name, name in the learner's file)]
    "parser": [("llmlab.agents.agent", "parse_step", "parse_step")],
    "calculator": [("llmlab.agents.calculator", "evaluate", "evaluate")],
}
SLIP = "Let me think about it first."          # no Action, no Final Answer: a ParseError
# (question, the tool call the model writes, the answer a person would accept; None: the tool must refuse)
QUESTIONS = [
    ("What is 4821 * 377?", "Thought: I need to multiply.\nAction: calculator[4821 * 377]", "1817517"),
    ("What is 2 to the power 64?", "I should use the tool.\naction: calculator(2 ^ 64)",
     "18446744073709551616"),
    ("How many seconds are in a leap year?",
     "Thought: days times seconds per day.\nAction: calculator\nAction Input: 366 * 24 * 60 * 60",
     "31622400"),
    ("What is the square root of 2, squared?", "Action: `calculator[sqrt(2) ^ 2]`", "2"),
    ("What is (17 + 25) * (3 - 8)?", "Thought: brackets first.\nAction: calculator[(17 + 25) * (3 - 8)",
     "-210"),
    ("What is 1234 + 5678?", "Thought: add them.\nAction: calculator[1234 + 5678]", "6912"),
    ("What is 12 divided by 0?", "Action: calculator: 12 / 0", None),
    ("What is 9 to the power 9 to the power 9?", "Thought: a tower of powers.\nAction: calculator[9**9**9]",
     None),
]
SLIPS_ON = "What is 1234 + 5678?"
REFUSED = "refused by the tool"


class ScriptedReAct(LLM):
    """Writes a question's tool call, then answers with the observation; one token per word."""

    name = "scripted-react"

    @property
    def context_window(self) -> int:
        return 4096

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _generate(self, prompt: str, params: SamplingParams) -> Iterator[Delta]:
        from llmlab.generation import find_stop

        question = re.findall(r"^Question: (.*)$", prompt, re.MULTILINE)[-1]
        call = next(c for q, c, _ in QUESTIONS if q == question)
        seen = re.findall(r"^Observation: (.*)$", prompt.split(f"Question: {question}", 1)[1], re.MULTILINE)
        if not seen:
            text = SLIP if question == SLIPS_ON else call
        elif seen[-1].startswith("Invalid format"):
            text = call
        elif seen[-1].startswith("Error"):
            text = f"Thought: the tool could not do it.\nFinal Answer: {REFUSED}"
        else:
            text = f"Thought: the calculator says {seen[-1]}.\nFinal Answer: {seen[-1]}"
        text += "\nObservation: I am sure it is 42"       # models write their own; the stop string cuts it
        at = find_stop(text, params.stop)
        text = text if at < 0 else text[:at]
        yield Delta(text, "stop", self.count_tokens(prompt), self.count_tokens(text))


@contextlib.contextmanager
def learner_pieces(modules: dict):
    with contextlib.ExitStack() as stack:
        for exercise, module in modules.items():
            for target, name, theirs in PATCHES.get(exercise, []):
                stack.enter_context(mock.patch.object(importlib.import_module(target), name, getattr(module,
                                                                                                     theirs)))
        yield


def ask_all(transcript: Path) -> list[dict]:
    """Every question through the agent loop with the calculator; per question its answer and its steps."""
    from llmlab.agents import Agent, AgentConfig, build_tools

    agent = Agent(ScriptedReAct(), build_tools(["calculator"]), config=AgentConfig(max_steps=4),
                  transcript=transcript)
    rows = []
    for question, _, _ in QUESTIONS:
        result = agent.run(question)
        rows.append({"question": question, "answer": result.answer, "stopped_by": result.stopped_by,
                     "steps": [(s.kind, s.tool, s.tool_input, s.observation) for s in result.steps]})
    return rows


def run_agents(folder: Path, modules: dict, log=print) -> dict:
    from llmlab.learn.mine_transformer import new_run_dir

    out = new_run_dir(folder)
    reference = ask_all(out / "reference.jsonl")
    with learner_pieces(modules):
        mine = ask_all(out / "mine.jsonl")
    return {"reference": reference, "mine": mine, "folder": str(out)}


def right(row: dict, expected: str | None) -> bool:
    return row["answer"] == (expected if expected is not None else REFUSED)


def run_mine(folder: Path, modules: dict, steps: int = 0, seed: int = 0, log=print) -> str:
    """Print each question's answer and steps, yours beside llmlab's; return the tracker's note.
    (`steps` and `seed` are unused: the model is scripted.)"""
    pieces = ", ".join(sorted(set(modules) & set(PATCHES))) or "none"
    log(f"{len(QUESTIONS)} questions through llmlab's agent loop (a scripted model, the calculator tool); "
        f"your pieces: {pieces}")
    r = run_agents(folder, modules, log=log)
    log(f"{'question':<42} {'answer (yours)':<24} {'steps yours/llmlab':>18}")
    for (question, _, expected), a, b in zip(QUESTIONS, r["mine"], r["reference"], strict=True):
        mark = ("" if a == b else "  differs") + ("" if right(a, expected) else "  wrong")
        log(f"{question:<42} {str(a['answer'])[:24]:<24} {len(a['steps']):>9}/{len(b['steps'])}{mark}")
        for kind, tool, tool_input, observation in a["steps"]:
            if kind != "final":
                shown = f"{tool}[{tool_input}]" if kind == "tool" else "(no action: a format error)"
                log(f"    {shown:<36} -> {str(observation)[:60]}")
    same = sum(a == b for a, b in zip(r["mine"], r["reference"], strict=True))
    correct = sum(right(a, e) for (_, _, e), a in zip(QUESTIONS, r["mine"], strict=True))
    log(f"transcripts: {r['folder']}")
    return (f"run --mine (mine: {pieces}): {same}/{len(QUESTIONS)} questions answered step for step as with "
            f"llmlab's pieces; {correct}/{len(QUESTIONS)} right (2 refused by the calculator, as they must "
            f"be)")
