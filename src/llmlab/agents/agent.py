"""The ReAct agent loop over `llmlab.llm`: think, call a tool, read the observation, repeat, answer.

    agent = Agent(load_llm("hf:DIR"), build_tools(["calculator"]), memory=LongTermMemory.open("ada"))
    result = agent.run("What is 4821 * 377?")        # result.answer, result.steps, result.stopped_by

Each step: build the prompt (oldest steps dropped first until it fits llm.context_window with the answer's
max_new_tokens), generate until a stop string ("\nObservation:": the model must not write its own
observations), parse the step, run the tool. A tool error or an unparseable reply becomes the next
observation; the loop ends at a Final Answer or after `max_steps`. Every step goes to transcript.jsonl
in the run folder and, if asked, to a readable trace on the terminal.

In chat mode, a backend with native tool calls (`llm.native_tools`: an OpenAI-compatible server) gets the
tools as OpenAI `tools` and answers with `tool_calls`, each answered by a `tool` message; the model's
text without calls is the answer. The ReAct text protocol stays for every other model
(`tool_calls="react"` forces it), and takes over when the server refuses `tools`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from llmlab.agents.memory import LongTermMemory, fit_steps
from llmlab.agents.parser import FORMAT_HINT, FinalAnswer, ParseError, ToolCall, parse_step
from llmlab.agents.prompt import STYLES, PastStep, cue, question_text, render_messages, render_prompt
from llmlab.agents.tools import ToolRegistry
from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.llm.base import LLM, ToolsUnsupported

MODES = ("complete", "chat")
TOOL_CALLS = ("auto", "react")
NATIVE_SYSTEM = "Answer the user's question. Call a function when it helps; answer in plain text when done."


@dataclass
class AgentConfig:
    max_steps: int = 6                     # model calls before giving up without an answer
    max_new_tokens: int = 256              # per step
    temperature: float = 0.0               # greedy by default: tool calls should be repeatable
    top_p: float = 1.0
    seed: int | None = 0
    # complete: one text prompt; chat: messages through the chat template
    mode: str = "complete"
    # react: instructions + tool list; bare: the toy models' trained format
    style: str = "react"
    stop: tuple[str, ...] = ("\nObservation:",)
    recall_k: int = 3                      # long-term facts put into the prompt (0: none)
    remember_answers: bool = False         # after an answered run, store "question -> answer" as a fact
    tool_calls: str = "auto"               # auto: native tool calls in chat mode when the backend has them

    def validate(self) -> AgentConfig:
        if self.max_steps < 1:
            raise LabError(f"max_steps must be >= 1, got {self.max_steps}", hint="--set max_steps=6")
        if self.mode not in MODES:
            raise LabError(f"unknown agent mode {self.mode!r}", hint=f"use one of {', '.join(MODES)}")
        if self.tool_calls not in TOOL_CALLS:
            raise LabError(f"unknown tool_calls {self.tool_calls!r}",
                           hint=f"use one of {', '.join(TOOL_CALLS)}")
        if self.style not in STYLES:
            raise LabError(f"unknown prompt style {self.style!r}", hint=f"use one of {', '.join(STYLES)}")
        if not any("Observation" in s for s in self.stop):
            raise LabError("the stop strings must include one with 'Observation'",
                           hint="otherwise the model writes its own tool results; keep '\\nObservation:'")
        return self

    @property
    def params(self) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_p=self.top_p,
                              max_new_tokens=self.max_new_tokens,
                              stop=self.stop, seed=self.seed)


@dataclass
class AgentStep:
    index: int
    kind: str                              # "tool" | "final" | "error"
    # what the model wrote this step (cut at a self-written Observation)
    text: str
    thought: str = ""
    tool: str | None = None
    tool_input: str | None = None
    observation: str | None = None
    ok: bool = True                        # False: the tool failed or the reply could not be parsed
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dropped_steps: int = 0                 # earlier steps left out of this step's prompt to fit the window
    seconds: float = 0.0


@dataclass
class AgentResult:
    question: str
    answer: str | None
    stopped_by: str                        # "final_answer" | "max_steps"
    steps: list[AgentStep] = field(default_factory=list)
    recalled: list[str] = field(default_factory=list)
    seconds: float = 0.0
    transcript: str | None = None

    @property
    def tool_calls(self) -> int:
        return sum(s.kind == "tool" for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "stopped_by": self.stopped_by,
                "steps": len(self.steps), "tool_calls": self.tool_calls, "recalled": self.recalled,
                "seconds": round(self.seconds, 3), "transcript": self.transcript}


Trace = Callable[[str, dict[str, Any]], None]     # (event, data): "start", "step", "end"


def check_question(question: str) -> str:
    if not question.strip():
        raise LabError("the question is empty",
                       hint='ask something, e.g. llmlab agents run "What is 17 * 23?"')
    return question


class Agent:
    def __init__(self, llm: LLM, tools: ToolRegistry | None = None, memory: LongTermMemory | None = None,
                 config: AgentConfig | None = None, transcript: str | Path | None = None,
                 trace: Trace | None = None):
        self.llm, self.tools, self.memory = llm, tools or ToolRegistry(), memory
        self.config = (config or AgentConfig()).validate()
        self.transcript = Path(transcript) if transcript else None
        self.trace = trace

    # ---- the loop ----------------------------------------------------------------------------------------

    def run(self, question: str) -> AgentResult:
        cfg, start = self.config, time.perf_counter()
        check_question(question)
        recalled = (
            [f.text for f in self.memory.search(question, cfg.recall_k)]
            if self.memory and cfg.recall_k
            else []
        )
        self._emit("start", {"question": question, "recalled": recalled, "model": self.llm.name,
                             "tools": self.tools.names, "config": asdict(cfg)})
        past: list[PastStep] = []
        steps: list[AgentStep] = []
        answer = None
        native = self._native()
        if native:
            try:
                answer = self._run_native(question, recalled, steps)
            except ToolsUnsupported:          # the server refused `tools` at the first step: ReAct instead
                native = False
        for index in range(0 if native else cfg.max_steps):
            step, reply = self._step(index, question, past, recalled)
            steps.append(step)
            if isinstance(reply, FinalAnswer):
                answer = reply.answer
                break
            past.append(PastStep(step.text, step.observation or ""))
        result = AgentResult(question, answer, "final_answer" if answer is not None else "max_steps", steps,
                             recalled, time.perf_counter() - start,
                             str(self.transcript) if self.transcript else None)
        if answer is not None and cfg.remember_answers and self.memory is not None:
            self.memory.add(f"{question} -> {answer}", source=str(self.transcript or ""))
        self._emit("end", result.to_dict())
        return result

    def _native(self) -> bool:
        cfg = self.config
        return (cfg.mode == "chat" and cfg.tool_calls == "auto" and getattr(self.llm, "native_tools", False)
                and len(self.tools) > 0)

    def _run_native(self, question: str, recalled: list[str], steps: list[AgentStep]) -> str | None:
        """The loop with OpenAI tool calls: each step is one chat turn; its calls are run and answered by
        `tool` messages; a turn without calls is the answer. The server checks the context window."""
        messages: list[dict] = [{"role": "system", "content": NATIVE_SYSTEM},
                                {"role": "user", "content": question_text(question, recalled).strip()}]
        tools = [t.openai_schema() for t in self.tools]
        params = replace(self.config.params, stop=())       # ReAct's stop strings mean nothing here
        for index in range(self.config.max_steps):
            t0 = time.perf_counter()
            reply = self.llm.chat_tools(messages, tools, params)
            step = AgentStep(index, "final", reply.text.strip(), prompt_tokens=reply.prompt_tokens,
                             completion_tokens=reply.completion_tokens)
            steps.append(step)
            if reply.tool_calls:
                messages.append({"role": "assistant", "content": reply.text or None, "tool_calls": [
                    {"id": c["id"], "type": "function",
                     "function": {"name": c["name"],
                                  "arguments": c["arguments"]}} for c in reply.tool_calls]})
                observed = [self.tools.call(c["name"], c["arguments"]) for c in reply.tool_calls]
                for call, obs in zip(reply.tool_calls, observed, strict=True):
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": obs.text})
                first = reply.tool_calls[0]
                step.kind, step.tool, step.tool_input = "tool", first["name"], first["arguments"]
                step.observation = "\n".join(o.text for o in observed)
                step.ok = all(o.ok for o in observed)
            step.seconds = round(time.perf_counter() - t0, 4)
            answer = None if reply.tool_calls else reply.text.strip()
            self._emit("step", {**asdict(step), "answer": answer, "prompt": messages})
            if answer is not None:
                return answer
        return None

    def _step(self, index: int, question: str, past: list[PastStep], recalled: list[str]):
        cfg, t0 = self.config, time.perf_counter()
        prompt, dropped, prompt_tokens = self._fitted_prompt(question, past, recalled)
        if cfg.mode == "chat":
            completion = self.llm.chat(prompt, cfg.params)
        else:
            completion = self.llm.complete(prompt, cfg.params)
        lead = cue(cfg.style) if cfg.mode == "complete" else ""
        reply = parse_step(completion.text)
        text = reply.text if reply.text.strip() else completion.text.strip()
        text = f"{lead} {text.lstrip()}" if lead else text
        step = AgentStep(index, "final", text.strip(),
                         prompt_tokens=completion.prompt_tokens or prompt_tokens,
                         completion_tokens=completion.completion_tokens, dropped_steps=dropped)
        if isinstance(reply, ToolCall):
            observed = self.tools.call(reply.tool, reply.input)
            step.kind, step.thought, step.tool, step.tool_input = (
                "tool",
                reply.thought,
                reply.tool,
                reply.input,
            )
            step.observation, step.ok = observed.text, observed.ok
        elif isinstance(reply, ParseError):
            step.kind, step.ok = "error", False
            step.observation = f"Invalid format: {reply.message}. {FORMAT_HINT}"
        else:
            step.thought = reply.thought
        step.seconds = round(time.perf_counter() - t0, 4)
        self._emit("step", {**asdict(step), "answer": reply.answer if isinstance(reply,
                                                                                 FinalAnswer) else None,
                            "prompt": prompt})
        return step, reply

    def _fitted_prompt(self, question: str, past: list[PastStep], recalled: list[str]):
        """(prompt, dropped steps, prompt tokens): the steps kept are the newest that fit beside the
        answer."""
        cfg, llm = self.config, self.llm
        budget = llm.context_window - llm.answer_budget(cfg.max_new_tokens)   # scaled down for a small window
        if cfg.mode == "chat":
            def build(k):
                return render_messages(question, past[k:], self.tools, cfg.style, recalled, dropped=k)
            count = llm.count_chat_tokens
        else:
            def build(k):
                return render_prompt(question, past[k:], self.tools, cfg.style, recalled, dropped=k)
            count = llm.count_tokens
        prompt, dropped = fit_steps(build, len(past), count, budget)
        return prompt, dropped, count(prompt)

    def answer_directly(self, question: str) -> str:
        """The same model without tools or steps: the prompt ends in "Final Answer:" and the first line is the
        answer."""
        prompt = render_prompt(question, [], ToolRegistry(), self.config.style, answer_now=True)
        params = SamplingParams(temperature=self.config.temperature,
                                max_new_tokens=self.config.max_new_tokens,
                                stop=("\n",), seed=self.config.seed)
        return self.llm.complete(prompt, params).text.strip()

    # ---- transcript and trace ----------------------------------------------------------------------------

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self.transcript is not None:
            self.transcript.parent.mkdir(parents=True, exist_ok=True)
            with open(self.transcript, "a", encoding="utf-8") as f:
                f.write(json.dumps({"event": event, "time": round(time.time(), 3), **data},
                                   ensure_ascii=False,
                                   default=str) + "\n")
        if self.trace is not None:
            self.trace(event, data)


def print_trace(event: str, data: dict[str, Any]) -> None:
    """A readable trace on the terminal: thoughts dim, actions cyan, observations green (red on error)."""
    from rich.markup import escape

    from llmlab.console import console

    if event == "start":
        console.print(f"[bold]Question:[/] {escape(data['question'])}")
        for fact in data.get("recalled", []):
            console.print(f"[magenta]Memory:[/] {escape(fact)}")
    elif event == "step":
        head = f"[dim]step {data['index'] + 1} · {data['prompt_tokens']} prompt tokens"
        head += f" · {data['dropped_steps']} old steps dropped" if data.get("dropped_steps") else ""
        console.print(head + "[/]")
        if data.get("thought"):
            console.print(f"[dim]Thought: {escape(data['thought'])}[/]")
        if data["kind"] == "tool":
            console.print(f"[cyan]Action: {escape(str(data['tool']))}[{escape(str(data['tool_input']))}][/]")
        if data["kind"] == "error":
            console.print(f"[yellow]{escape(data['text'])}[/]")
        if data.get("observation") is not None:
            color = "green" if data.get("ok") else "red"
            console.print(f"[{color}]Observation: {escape(data['observation'])}[/]")
        if data.get("answer") is not None:
            console.print(f"[bold green]Final Answer: {escape(data['answer'])}[/]")
    elif event == "end" and data.get("answer") is None:
        console.print(f"[red]no answer after {data['steps']} steps[/]")
