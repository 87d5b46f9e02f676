"""The agent loop against a scripted LLM: tool call -> observation -> answer, format slips, tool errors, the
step limit, stop strings, chat mode, context trimming with exact counts, and memory carried from one run to
the next."""

import json

import pytest

from llmlab.agents import Agent, AgentConfig, LongTermMemory, ToolRegistry, build_tools, fit_steps
from llmlab.generation import find_stop
from llmlab.llm.base import LLM, ContextWindowError, Delta


class ScriptedLLM(LLM):
    """Replies from a script, cut at the request's stop strings as a real backend cuts them; one word = one
    token."""

    name = "scripted"

    def __init__(self, replies, window=4096):
        self.replies, self.window = list(replies), window
        self.prompts, self.params = [], []

    @property
    def context_window(self) -> int:
        return self.window

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _generate(self, prompt, params):
        self.prompts.append(prompt)
        self.params.append(params)
        text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        at = find_stop(text, params.stop)
        yield Delta(text if at < 0 else text[:at], "stop", self.count_tokens(prompt), len(text.split()))


def calc_agent(replies, **config):
    llm = ScriptedLLM(replies, config.pop("window", 4096))
    return Agent(llm, build_tools(["calculator"]), config=AgentConfig(**config)), llm


def test_tool_call_observation_then_final_answer(tmp_path):
    llm = ScriptedLLM(["I should add.\nAction: calculator[4821 + 377]\nObservation: 9999\nFinal Answer: 9999",
                       "I know it now.\nFinal Answer: 5198"])
    agent = Agent(llm, build_tools(["calculator"]), transcript=tmp_path / "t.jsonl")
    result = agent.run("What is 4821 + 377?")
    assert result.answer == "5198" and result.stopped_by == "final_answer" and result.tool_calls == 1
    first = result.steps[0]
    assert (first.tool, first.tool_input, first.observation, first.ok) == ("calculator", "4821 + 377", "5198",
                                                                           True)
    assert first.thought == "I should add."
    # the model's own "Observation: 9999" was cut by the stop string; the real one is in the next prompt
    assert "\nObservation:" in llm.params[0].stop
    assert "Observation: 5198\nThought:" in llm.prompts[1] and "9999" not in llm.prompts[1]
    assert llm.prompts[0].endswith("Question: What is 4821 + 377?\nThought:")
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [r["event"] for r in rows] == ["start", "step", "step", "end"]
    assert rows[1]["observation"] == "5198" and rows[2]["answer"] == "5198" and rows[3]["tool_calls"] == 1
    assert rows[1]["prompt"] == llm.prompts[0]


def test_malformed_reply_becomes_an_observation():
    agent, llm = calc_agent(["the answer is probably large", "Final Answer: 3"])
    result = agent.run("1+2?")
    assert result.answer == "3"
    bad = result.steps[0]
    assert bad.kind == "error" and not bad.ok and bad.observation.startswith("Invalid format: no Action or "
                                                                             "Final Answer")
    assert "Action: <tool name>[<input>]" in llm.prompts[1]          # the model is shown the format again


@pytest.mark.parametrize("call, expected", [
    ("Action: calculator[__import__('os').system('ls')]", "Error: calls other than the math functions"),
    ("Action: calculator[1/0]", "Error: division by zero"),
    ("Action: web_search[weather]", "Error: there is no tool named 'web_search'"),
])
def test_tool_errors_are_observations_not_crashes(call, expected):
    agent, llm = calc_agent([call, "Final Answer: done"])
    result = agent.run("try it")
    assert result.answer == "done"
    assert result.steps[0].observation.startswith(expected) and not result.steps[0].ok
    assert "Observation: " + expected in llm.prompts[1]


def test_a_crashing_tool_is_reported_to_the_model():
    from llmlab.agents import Tool

    def broken(x: str) -> str:
        raise RuntimeError("disk on fire")

    tools = ToolRegistry([Tool("broken", "always fails", {"type": "object",
                                                          "properties": {"x": {"type": "string"}}},
                               broken, "x")])
    agent = Agent(ScriptedLLM(["Action: broken[1]", "Final Answer: ok"]), tools)
    result = agent.run("q")
    assert result.steps[0].observation == "Error: broken failed: RuntimeError: disk on fire"


def test_step_limit_ends_the_run_without_an_answer():
    agent, llm = calc_agent(["Action: calculator[1+1]"], max_steps=3)
    result = agent.run("loop forever")
    assert result.answer is None and result.stopped_by == "max_steps"
    assert len(result.steps) == 3 and len(llm.prompts) == 3 and result.tool_calls == 3
    assert llm.prompts[2].count("Observation: 2") == 2


def test_chat_mode_sends_steps_as_messages():
    agent, llm = calc_agent(["Thought: add\nAction: calculator[2+3]", "Final Answer: 5"], mode="chat")
    assert agent.run("2+3?").answer == "5"
    # the default chat template: "role: content" lines, then the assistant cue
    second = llm.prompts[1]
    assert ("user: Question: 2+3?\nassistant: Thought: add\nAction: calculator[2+3]\nuser: Observation: "
            "5\nassistant:") \
        in second
    assert second.startswith("system: Answer the question")


def test_fit_steps_drops_exactly_the_oldest_steps():
    steps = [" ".join([f"s{i}"] * 10) for i in range(6)]          # 6 steps of 10 tokens

    def build(k):
        return "one two three four five " + " ".join(steps[k:])   # 5 + 10 per kept step

    prompt, dropped = fit_steps(build, len(steps), lambda t: len(t.split()), budget=37)
    assert dropped == 3 and prompt.split()[5] == "s3"             # 5 + 3 * 10 = 35 <= 37 < 45
    assert fit_steps(build, len(steps), lambda t: len(t.split()), budget=65)[1] == 0
    with pytest.raises(ContextWindowError, match="5 tokens with every earlier step dropped"):
        fit_steps(build, len(steps), lambda t: len(t.split()), budget=4)


def test_agent_trims_old_steps_to_the_context_window():
    agent, llm = calc_agent(["Action: calculator[1+1]"], max_steps=8, max_new_tokens=10, window=130)
    result = agent.run("keep going")
    budget = 130 - 10
    counts = [llm.count_tokens(p) for p in llm.prompts]
    assert all(c <= budget for c in counts)
    trimmed = [s for s in result.steps if s.dropped_steps]
    assert trimmed, "the window should have forced dropping"
    for step in trimmed:
        prompt = llm.prompts[step.index]
        assert f"({step.dropped_steps} earlier step" in prompt
        assert prompt.count("Observation: 2") == step.index - step.dropped_steps
        assert step.prompt_tokens == llm.count_tokens(prompt)


def test_a_question_too_long_for_the_window_is_a_clear_error():
    agent, _ = calc_agent(["Final Answer: x"], max_new_tokens=10, window=50)
    with pytest.raises(ContextWindowError, match="with every earlier step dropped"):
        agent.run("word " * 100)


def test_memory_carries_an_answer_into_a_new_run(tmp_path):
    first = Agent(ScriptedLLM(["Action: calculator[17*23]", "Final Answer: 391"]),
                  build_tools(["calculator"]),
                  memory=LongTermMemory(tmp_path), config=AgentConfig(remember_answers=True))
    first.run("What is 17*23?")
    llm = ScriptedLLM(["Final Answer: 391"])
    # new objects, same folder
    second = Agent(llm, build_tools(["calculator"]), memory=LongTermMemory(tmp_path))
    result = second.run("Remind me: 17*23?")
    assert result.recalled == ["What is 17*23? -> 391"]
    assert "Question: Remind me: 17*23?\nMemory: What is 17*23? -> 391\n" in llm.prompts[0]
    assert result.tool_calls == 0


def test_memory_tools_store_and_recall_across_runs(tmp_path):
    memory = LongTermMemory(tmp_path)
    tools = build_tools(["memory"], memory=memory)
    Agent(ScriptedLLM(["Action: remember[The user's name is Ada]", "Final Answer: noted"]),
          tools).run("I am Ada")
    llm = ScriptedLLM(["Action: recall[user name]", "Final Answer: Ada"])
    reopened = LongTermMemory(tmp_path)
    result = Agent(llm, build_tools(["memory"], memory=reopened),
                   config=AgentConfig(recall_k=0)).run("Who am I?")
    assert result.steps[0].observation == "- The user's name is Ada"
    assert result.answer == "Ada"


def test_config_is_checked():
    from llmlab.errors import LabError

    with pytest.raises(LabError, match="Observation"):
        AgentConfig(stop=("\n\n",)).validate()
    with pytest.raises(LabError, match="mode"):
        AgentConfig(mode="stream").validate()


@pytest.mark.parametrize("backend", [pytest.param("engine", marks=pytest.mark.slow), "hf"])
def test_real_backends_keep_every_prompt_inside_the_window(tmp_path, backend):
    """A random tiny model writes gibberish: every reply is a format error, the scratchpad grows past the
    window and old steps are dropped, counted by the backend's own tokenizer."""
    from llmlab.agents.prompt import render_prompt
    from llmlab.agents.toy import TOOLS
    from llmlab.llm import load_llm
    from llmlab.serve.random_model import make_model_dir

    directory = make_model_dir(tmp_path / "m", family="gpt2", preset="tiny", tokenizer="char")
    with load_llm(f"{backend}:{directory}") as llm:
        config = AgentConfig(style="bare", max_steps=4, max_new_tokens=48, stop=("\nObservation:", "\n\n"))
        result = Agent(llm, build_tools(["calculator"]), config=config).run("What is 12 * 34?")
        assert llm.context_window == 256 and result.steps[0].kind == "error"
        for step in result.steps:
            assert step.prompt_tokens + config.max_new_tokens <= llm.context_window
            assert step.prompt_tokens == llm.count_tokens(render_prompt("What is 12 * 34?", [], TOOLS,
                                                                        "bare")) + (
                llm.count_tokens(f"({step.dropped_steps} earlier step{'s' * (step.dropped_steps != 1)} left "
                                 f"out to "
                                 "fit the context window)\n") if step.dropped_steps else 0)
        # one gibberish step with its format-error observation is longer than the whole budget (208 tokens),
        # so every later prompt keeps no earlier step
        first = result.steps[0]
        assert llm.count_tokens(first.text + first.observation) > llm.context_window - config.max_new_tokens
        assert [s.dropped_steps for s in result.steps] == list(range(len(result.steps)))
