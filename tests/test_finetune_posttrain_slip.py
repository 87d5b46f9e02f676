"""The flawed demonstrator of the post-training demonstration: SFT's answers slip by a fixed rule on one
operation, while the held-out score, DPO's chosen answers and GRPO's reward keep the true answer.

The arithmetic below is written here, independently of toy_task and cot_train, so a wrong rule, a wrong rate,
or a verifier that reads the demonstrator's answers instead of the true ones makes these tests fail.
"""

from __future__ import annotations

import pytest

from llmlab.errors import LabError
from llmlab.finetune.toy_task import ChainTask

MOD = 10
APPLY = {"+": lambda a, x: (a + x) % MOD, "-": lambda a, x: (a - x) % MOD, "*": lambda a, x: (a * x) % MOD}


def true_values(chain) -> list[int]:
    values = [chain.start]
    for op, x in chain.steps:
        values.append(APPLY[op](values[-1], x))
    return values


def written(chain, values: list[int]) -> str:
    """The scratchpad "3*4=2,2+7=9." for the given running values."""
    return ",".join(f"{values[i]}{op}{x}={values[i + 1]}" for i, (op, x) in enumerate(chain.steps)) + "."


def slipped(chain) -> str:
    """What a demonstrator that slips on every "*" step (computes a + x instead) writes."""
    values = [chain.start]
    for op, x in chain.steps:
        values.append(APPLY["+" if op == "*" else op](values[-1], x))
    return written(chain, values)


def test_demonstrations_slip_by_the_fixed_rule_at_the_set_rate_and_go_on_consistently():
    task = ChainTask(seed=3, n_train=2000, n_eval=8, slip=0.75, slip_op="*")
    slips = chances = 0
    for chat, chain in zip(task.conversations(), task.train, strict=True):
        assert chat[0]["content"] == task.question(chain)
        steps = chat[1]["content"].rstrip(".").split(",")
        assert len(steps) == len(chain.steps)
        value = chain.start
        for text, (op, x) in zip(steps, chain.steps, strict=True):
            assert text.startswith(f"{value}{op}{x}=")       # each step starts from the value written last
            got = int(text.split("=")[1])
            right, wrong = APPLY[op](value, x), APPLY["+"](value, x)
            if op != "*":
                assert got == right                            # the other operations are always right
            else:
                assert got in (right, wrong)                   # the slip is the one fixed rule, no noise
                if right != wrong:
                    chances += 1
                    slips += got == wrong
            value = got
    assert chances > 800
    assert 0.70 < slips / chances < 0.80                      # 0.75 set; +-0.05 is over 3 standard errors


def test_slip_zero_is_the_honest_demonstrator_and_the_seed_fixes_the_slips():
    honest = ChainTask(seed=1, n_train=300, n_eval=8, slip=0.0)
    assert [c[1]["content"] for c in honest.conversations()] == [
        written(c, true_values(c)) for c in honest.train]
    a, b = (ChainTask(seed=1, n_train=300, n_eval=8, slip=0.5) for _ in range(2))
    assert a.conversations() == b.conversations()            # reproducible, per problem
    assert a.conversations() != honest.conversations()


def test_the_verifier_keeps_the_true_answers_when_every_multiplication_slips():
    from llmlab.experiments.cot_train import read_answer

    task = ChainTask(seed=0, n_train=400, n_eval=50, slip=1.0)
    assert [c[1]["content"] for c in task.conversations()] == [slipped(c) for c in task.train]
    # GRPO's reward checks the true final value
    rows = task.prompts(200)
    assert [r["answer"] for r in rows] == [str(true_values(c)[-1]) for c in task.practice[:200]]
    # held-out accuracy: a model answering like the demonstrator scores only where a slip changes nothing
    task.answers = lambda model, tok, chains: [slipped(c) for c in chains]
    right, total = task.accuracy(None, None)
    same = sum(read_answer(slipped(c)) == str(true_values(c)[-1]) for c in task.test)
    assert (right, total) == (same, len(task.test)) and right < total
    # DPO: chosen is the true scratchpad, rejected the slipped one cut after its first wrong step
    pairs = task.preference_pairs(None, None, 200)
    for pair, chain in zip(pairs, task.practice, strict=False):
        assert pair["chosen"] == written(chain, true_values(chain))
        if read_answer(slipped(chain)) != read_answer(pair["chosen"]):
            mine, first_wrong = slipped(chain).rstrip(".").split(","), None
            for i, step in enumerate(mine):
                if step != pair["chosen"].rstrip(".").split(",")[i]:
                    first_wrong = i
                    break
            assert pair["rejected"] == ",".join(mine[:first_wrong + 1]) + "."
    task.answers = lambda model, tok, chains: [written(c, true_values(c)) for c in chains]
    assert task.accuracy(None, None) == (len(task.test), len(task.test))


def test_the_slip_comes_from_the_config_and_bad_values_are_refused():
    from llmlab.finetune.posttrain_presets import resolve_posttrain

    demo = ChainTask.for_config(resolve_posttrain("toy", ["problems=200", "eval_problems=8"], seed=2))
    assert demo.slip > 0.5 and demo.seed == 2 and len(demo.train) == 200  # imitation learns the habit
    off = ChainTask.for_config(resolve_posttrain("toy", ["problems=200", "eval_problems=8", "slip=0"],
                                                 seed=2))
    assert [c[1]["content"] for c in off.conversations()] == [written(c, true_values(c)) for c in off.train]
    for bad in ({"slip": 1.5}, {"slip_op": "/"}):
        with pytest.raises(LabError, match="slip"):
            ChainTask(n_train=10, n_eval=2, **bad)
