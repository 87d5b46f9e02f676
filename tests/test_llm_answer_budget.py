"""A default answer length too long for a model's window is scaled down and said, not refused: the one rule in
llmlab.llm (answer_budget for planning a prompt, check_fits at generation), used by chat, RAG and agents."""

import pytest

from llmlab.generation import SamplingParams
from llmlab.llm.base import ContextWindowError
from word_llm import WordLLM


def test_check_fits_cuts_the_answer_to_the_room_left_and_says_so(capsys):
    llm = WordLLM(window=32, answer=lambda prompt: ["word"] * 100)
    out = llm.complete("one two three four five six seven eight nine ten", SamplingParams(max_new_tokens=256))
    assert out.completion_tokens == 22 and llm.calls[-1].max_new_tokens == 22      # 32 - 10 in the prompt
    err = capsys.readouterr().err
    assert "answering in at most 22 tokens instead of 256" in err
    llm.complete("one two three", SamplingParams(max_new_tokens=256))
    assert "instead of 256" not in capsys.readouterr().err                         # said once, not every call


def test_a_prompt_that_fills_the_window_is_still_an_error():
    with pytest.raises(ContextWindowError, match="context window is 4 tokens"):
        WordLLM(window=4).complete("one two three four", SamplingParams(max_new_tokens=8))


def test_answer_budget_keeps_what_fits_and_scales_the_rest(capsys):
    assert WordLLM(window=1024).answer_budget(256) == 256
    assert capsys.readouterr().err == ""
    assert WordLLM(window=128).answer_budget(256) == 32
    assert "answering in at most 32" in capsys.readouterr().err


def test_rag_and_agents_plan_with_the_scaled_budget():
    from llmlab.agents.agent import Agent, AgentConfig
    from llmlab.agents.tools import ToolRegistry
    from llmlab.rag.prompts import fit_sources, qa_messages

    llm = WordLLM(window=128, answer=lambda prompt: ["Final", "Answer:", "42"])
    plan = fit_sources(llm, lambda chunks: qa_messages("How do I leave a loop early?", chunks), [], 256)
    assert plan.budget == 128 - 32 and plan.prompt_tokens <= plan.budget
    result = Agent(llm, ToolRegistry(), config=AgentConfig()).run("What is 6 * 7?")    # default 256 per step
    assert llm.calls and all(c.max_new_tokens <= 128 for c in llm.calls) and result is not None
