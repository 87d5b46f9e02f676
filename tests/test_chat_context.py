"""Context-window logic with exact token counts: a scripted LLM whose tokens are whitespace words, so every
count is worked out by hand; the binary search against a brute-force search; and a real tokenizer."""


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlab.chat.context import MEMORY_HEADER, exchanges, fit_context
from llmlab.generation import SamplingParams
from llmlab.llm.base import ContextWindowError
from word_llm import WordLLM


def turn(i: int) -> list[dict]:
    # "user: question number i\n" is 4 words, "assistant: answer i\n" is 3
    return [{"role": "user", "content": f"question number {i}"}, {"role": "assistant",
                                                                  "content": f"answer {i}"}]


HISTORY = [m for i in range(5) for m in turn(i)]          # 5 exchanges, 7 tokens each
SYSTEM = "be brief"                                      # "system: be brief\n": 3 tokens
NEWEST = "what now"                                      # "user: what now\n" 3 tokens + "assistant:" 1


def test_everything_fits_with_exact_count():
    plan = fit_context(WordLLM(100), SYSTEM, HISTORY, NEWEST, max_new_tokens=20)
    assert plan.prompt_tokens == 3 + 5 * 7 + 3 + 1 == 42
    assert plan.dropped == [] and plan.budget == 80
    assert plan.messages[0] == {"role": "system", "content": SYSTEM}
    assert plan.messages[-1] == {"role": "user", "content": NEWEST}


def test_oldest_exchanges_are_dropped_first():
    # budget 60 - 30 = 30: fixed part 7, so 3 exchanges (21) fit and 4 (28) ... also fit; 5 (35) do not
    plan = fit_context(WordLLM(60), SYSTEM, HISTORY, NEWEST, max_new_tokens=30)
    assert plan.prompt_tokens == 7 + 3 * 7 == 28
    assert plan.dropped == turn(0) + turn(1)
    assert plan.messages[1:-1] == turn(2) + turn(3) + turn(4)
    assert "dropped the oldest 2 exchanges (4 messages)" in plan.report()
    assert plan.fits


def test_budget_exactly_met_drops_nothing_more():
    plan = fit_context(WordLLM(42 + 10), SYSTEM, HISTORY, NEWEST, max_new_tokens=10)
    assert plan.prompt_tokens == plan.budget == 42 and plan.dropped == []
    plan = fit_context(WordLLM(41 + 10), SYSTEM, HISTORY, NEWEST, max_new_tokens=10)
    assert plan.prompt_tokens == 35 and plan.dropped == turn(0)


def test_newest_turn_that_cannot_fit_is_a_clear_error():
    long = " ".join(["word"] * 50)        # "user: " + 50 words + "assistant:" = 52, + system 3 = 55
    with pytest.raises(ContextWindowError) as info:
        fit_context(WordLLM(64), SYSTEM, HISTORY, long, max_new_tokens=16)
    assert "take 55 tokens, but only 48 fit" in info.value.message
    assert "max_new_tokens" in info.value.hint


def test_memory_sits_under_the_system_prompt_and_goes_after_the_history():
    # header (6 words) + "- name is Ada" (4) + "- likes tea" (3)
    memory = ["name is Ada", "likes tea"]
    plan = fit_context(WordLLM(100), SYSTEM, HISTORY, NEWEST, 20, memory=memory)
    assert plan.messages[0]["content"] == f"{SYSTEM}\n\n{MEMORY_HEADER}\n- name is Ada\n- likes tea"
    assert plan.prompt_tokens == 42 + 13
    # room for the fixed part (7) and the memory (13) but no exchange: all history goes, memory stays
    plan = fit_context(WordLLM(26 + 20), SYSTEM, HISTORY, NEWEST, 20, memory=memory)
    assert plan.prompt_tokens == 20 and len(plan.dropped) == 10 and plan.memory_kept == memory
    # room for the header and the first note only
    plan = fit_context(WordLLM(19 + 20), SYSTEM, HISTORY, NEWEST, 20, memory=memory)
    assert (
        plan.memory_kept == ["name is Ada"]
        and plan.memory_dropped == ["likes tea"]
        and plan.prompt_tokens == 17
    )


def test_exchanges_keep_replies_with_their_question():
    history = [{"role": "assistant", "content": "welcome"}] + turn(0) + [{"role": "assistant",
                                                                          "content": "more"}]
    groups = exchanges(history)
    assert groups == [[history[0]], history[1:4]]
    plan = fit_context(WordLLM(20 + 10), None, history, NEWEST, 10)     # no system prompt at all
    # "assistant: welcome" 2, exchange 0: 4 + 3 + 2 = 9, fixed 4: 15 > 20? no: all fits
    assert plan.prompt_tokens == 15 and plan.messages[0]["role"] == "assistant"
    plan = fit_context(WordLLM(14 + 10), None, history, NEWEST, 10)
    assert plan.dropped == [history[0]] and plan.prompt_tokens == 13
    assert "dropped the oldest 1 exchange (1 message)" in plan.report()     # a lone opening reply is one


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 9), min_size=0, max_size=12), newest=st.integers(1, 6),
       window=st.integers(8, 80), memory=st.lists(st.integers(1, 5), max_size=4))
def test_binary_search_equals_brute_force(sizes, newest, window, memory):
    llm = WordLLM(window)
    history = [m for i, n in enumerate(sizes) for m in
               ({"role": "user", "content": " ".join(["q"] * n)}, {"role": "assistant", "content": f"a{i}"})]
    notes = [" ".join(["m"] * n) for n in memory]
    user = " ".join(["u"] * newest)
    candidates = [(d, k) for d in range(len(sizes) + 1) for k in range(len(notes), -1, -1)]
    # the rule: fewest exchanges dropped with all memory; if none fits that way, all dropped and the most
    # memory
    def tokens(d, k):
        from llmlab.chat.context import system_message

        kept = history[2 * d:]
        return llm.count_chat_tokens(system_message("sys", notes[:k]) + kept + [{"role": "user",
                                                                                 "content": user}])
    budget = window - 4
    fitting = [(d, k) for d, k in candidates if tokens(d, k) <= budget]
    if not fitting:
        with pytest.raises(ContextWindowError):
            fit_context(llm, "sys", history, user, 4, notes)
        return
    full = [d for d, k in fitting if k == len(notes)]
    expected = (min(full), len(notes)) if full else (len(sizes), max(k for d,
                                                                     k in fitting if d == len(sizes)))
    plan = fit_context(llm, "sys", history, user, 4, notes)
    assert (len(plan.dropped) // 2, len(plan.memory_kept)) == expected
    assert plan.prompt_tokens == tokens(*expected) <= budget


def test_real_tokenizer_plan_is_accepted_by_the_model(tmp_path):
    from llmlab.llm import load_llm
    from llmlab.serve.random_model import make_model_dir

    llm = load_llm("hf:" + str(make_model_dir(tmp_path / "m", family="gpt2", preset="tiny", tokenizer="bpe",
                                               n_positions=96)))
    history = [m for i in range(12) for m in turn(i)]
    params = SamplingParams(max_new_tokens=16, temperature=0)
    with pytest.raises(ContextWindowError):
        # the untrimmed chat does not fit
        llm.chat(history + [{"role": "user", "content": NEWEST}], params)
    plan = fit_context(llm, SYSTEM, history, NEWEST, params.max_new_tokens)
    assert plan.dropped and plan.prompt_tokens == llm.count_chat_tokens(plan.messages) <= 96 - 16
    assert llm.chat(plan.messages, params).completion_tokens <= 16
