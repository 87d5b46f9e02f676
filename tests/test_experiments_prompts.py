"""Prompt builders, answer extraction, the Wilson interval against published values, deterministic task
sets."""

import math

import pytest

from llmlab.errors import LabError
from llmlab.experiments.extract import (
    extract_number,
    free_answer,
    match_label,
    matches_text,
    normalize_number,
)
from llmlab.experiments.icl_tasks import ICL_TASKS, icl_task
from llmlab.experiments.prompts import DIRECT_CUE, STEP_BY_STEP, cot_prompt, icl_prompt, pick_demos
from llmlab.experiments.stats import majority, wilson_interval
from llmlab.experiments.word_problems import word_problems

# ---------------------------------------------------------------------------------------------- extraction


@pytest.mark.parametrize("text, last, want", [
    ("so 1,204 - 5 = 1,199. The answer is 1,199.", True, "1199"),
    ("The answer is -12.", True, "-12"),
    ("The answer is $1,000,000.", True, "1000000"),
    ("The answer (arabic numerals) is 42\n\nQ: Tom has 3", True, "42"),
    ("answer: **17**", True, "17"),
    ("First 3, then 4 and finally 7.0", True, "7"),
    (" 19.\n\nQ: Ann has 4 apples", False, "19"),
    ("It is \u22123 degrees, not 5", False, "-3"),
    ("10-3=7", True, "7"),                  # subtraction, not the number -3
    ("10-3", True, "3"),
    ("x = 0.50 then 0101", True, "101"),
    ("no digits here", True, None),
])
def test_extract_number(text, last, want):
    assert extract_number(text, last=last) == want


def test_stated_answer_wins_over_later_numbers():
    assert extract_number("The answer is 8. Check: 2 + 3 = 5", last=True) == "8"


def test_normalize_number():
    assert [normalize_number(s) for s in ("1,234", "7.0", "-0", "007", "2.50")] == ["1234", "7", "0", "7",
                                                                                    "2.5"]


def test_match_label_takes_the_first_named_label_as_a_whole_word():
    labels = ("negative", "positive")
    assert match_label(" Positive!", labels) == "positive"
    assert match_label("negative, not positive", labels) == "negative"
    assert match_label("positively unclear", labels) is None
    assert match_label("", labels) is None


def test_free_answers():
    assert free_answer('  "Paris."\nCountry: Peru') == "Paris"
    assert matches_text("New Delhi, India", "New Delhi")
    assert matches_text("paris", "Paris")
    assert not matches_text("Parisian", "Paris")
    assert not matches_text("", "Paris")


# ---------------------------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("k, n, lo, hi", [
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no continuity
    # correction)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_published_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=6e-5) and got[1] == pytest.approx(hi, abs=6e-5)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(10, 10)
    # n/n is not [1, 1]: at k = n the lower end has the closed form n / (n + z²) = 10 / 13.84
    assert hi == pytest.approx(1.0) and lo == pytest.approx(10 / (10 + 1.959964 ** 2), abs=1e-6)
    lo, hi = wilson_interval(5, 10)
    assert lo + hi == pytest.approx(1.0)               # symmetric around 1/2
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_majority_vote():
    assert majority(["7", "3", "7", None]) == "7"
    assert majority(["3", "7"]) == "3"                 # tie: the first seen
    assert majority([None, ""]) is None


# ---------------------------------------------------------------------------------------------- task sets


def test_word_problems_are_deterministic_and_their_rationales_hold():
    a, b = word_problems(30, seed=3), word_problems(30, seed=3)
    assert [x.question for x in a] == [x.question for x in b]
    assert [x.question for x in a] != [x.question for x in word_problems(30, seed=4)]
    assert [x.meta["steps"] for x in a[:6]] == [2, 3, 4, 2, 3, 4]
    for item in a:
        # every equation written in the rationale is true, and its last result is the answer
        import re

        equations = re.findall(r"(\d+) ([-+*/]) (\d+) = (\d+)", item.rationale)
        assert len(equations) >= item.meta["steps"]
        for x, op, y, z in equations:
            assert {"+": int(x) + int(y), "-": int(x) - int(y), "*": int(x) * int(y),
                    "/": int(x) / int(y)}[op] == int(z)
        assert equations[-1][3] == item.answer and item.rationale.endswith(f"The answer is {item.answer}.")
        assert int(item.answer) >= 0


def test_word_problem_errors():
    with pytest.raises(LabError):
        word_problems(5, min_steps=3, max_steps=2)


def test_icl_tasks_ship_balanced_data():
    sentiment = icl_task("sentiment")
    assert len(sentiment.items) == 40
    assert sum(i.answer == "positive" for i in sentiment.items) == 20
    assert set(sentiment.labels) == {i.answer for i in sentiment.items}
    assert icl_task("reverse").items[0].answer == "elppa"
    assert all(len(icl_task(name).items) == 40 for name in ICL_TASKS)
    with pytest.raises(LabError, match="unknown in-context task"):
        icl_task("nope")


# ---------------------------------------------------------------------------------------------- prompts


def test_cot_prompt_styles():
    item, *pool = word_problems(4, seed=0)
    zero_direct = cot_prompt(item, "direct")
    assert zero_direct.text == f"Q: {item.question}\nA: {DIRECT_CUE}"
    zero_cot = cot_prompt(item, "cot")
    assert zero_cot.text == f"Q: {item.question}\nA: {STEP_BY_STEP}"
    few = cot_prompt(item, "direct", pool[:2])
    assert few.text == (f"Q: {pool[0].question}\nA: The answer is {pool[0].answer}.\n\n"
                        f"Q: {pool[1].question}\nA: The answer is {pool[1].answer}.\n\nQ: "
                        f"{item.question}\nA:")
    few_cot = cot_prompt(item, "cot", pool[:2])
    assert (
        few_cot.text.startswith(f"Q: {pool[0].question}\nA: {pool[0].rationale}\n\n") and few_cot.shots == 2
    )
    # chat: exemplars become user/assistant turns, the question is the last user turn
    roles = [m["role"] for m in few_cot.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert (
        few_cot.messages[1]["content"] == pool[0].rationale
        and few_cot.messages[-1]["content"] == item.question
    )
    with pytest.raises(LabError):
        cot_prompt(item, "tree-of-thought")


def test_icl_prompt_and_demonstrations():
    task = icl_task("sentiment")
    query = task.items[0]
    demos = pick_demos(task.items, query, 4, seed=0)
    assert query not in demos and len({d.id for d in demos}) == 4
    # nested: k-shot demos extend (k-1)-shot ones
    assert pick_demos(task.items, query, 2, seed=0) == demos[:2]
    p = icl_prompt(task, query, demos[:1])
    assert p.text == (f"{task.instruction}\n\nReview: {demos[0].question}\nSentiment: {demos[0].answer}\n\n"
                      f"Review: {query.question}\nSentiment:")
    bare = icl_prompt(task, query, [], instruction=False)
    assert bare.text == f"Review: {query.question}\nSentiment:" and bare.messages == [
        {"role": "user", "content": query.question}]
    assert icl_prompt(task, query, demos[:2]).messages[0]["role"] == "system"
    with pytest.raises(LabError, match="only 39 other items"):
        pick_demos(task.items, query, 40, seed=0)


def test_wilson_is_not_the_normal_approximation():
    # at 2/10 the normal interval (0.2 ± 1.96·0.126) dips below 0; Wilson stays inside [0, 1]
    p, n = 0.2, 10
    normal_low = p - 1.959964 * math.sqrt(p * (1 - p) / n)
    lo, _ = wilson_interval(2, 10)
    assert normal_low < 0 < lo
