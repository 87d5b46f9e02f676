"""The harness with scripted LLMs (exact accuracies), self-consistency, the two-stage CoT answer, context
errors, a real llmlab.llm backend on a random model (mechanics), and the `llmlab cot|icl` commands."""

import json
import re

import pytest

from llmlab.experiments.harness import CotRun, IclRun, parse_condition, run_cot, run_icl
from llmlab.experiments.icl_tasks import icl_task
from llmlab.experiments.prompts import THEREFORE
from llmlab.experiments.word_problems import word_problems
from llmlab.llm import LLM, Delta


class ScriptedLLM(LLM):
    """Answers from a function of the prompt (and the sampling seed); counts one token per character."""

    name = "scripted"

    def __init__(self, answer, window: int = 100_000):
        self.answer, self.window, self.prompts = answer, window, []

    @property
    def context_window(self) -> int:
        return self.window

    def count_tokens(self, text: str) -> int:
        return len(text)

    def _generate(self, prompt, params):
        self.prompts.append(prompt)
        text = self.answer(prompt, params)
        yield Delta(text, "stop", len(prompt), len(text))


def _last_question(prompt: str) -> str:
    return re.findall(r"Q: (.*?)\nA:", prompt, re.S)[-1]


def _answers(seed=0, n=6):
    return {i.question: i for i in word_problems(n, seed)}


def test_parse_condition():
    assert parse_condition("cot-4") == ("cot", 4)
    with pytest.raises(Exception, match="unknown condition"):
        parse_condition("cot")


def test_cot_harness_scores_exactly():
    """Direct prompts get the right number only for even-numbered problems; chain-of-thought prompts always
    reason to the right answer: direct accuracy is the share of even ids, CoT is 1."""
    known = _answers()

    def answer(prompt, params):
        item = known[_last_question(prompt)]
        if prompt.endswith("step by step."):                             # zero-shot CoT
            return f" {item.rationale}\n\nQ: next"
        # few-shot CoT: imitate the rationales
        if "starts with" in prompt:
            return f" {item.rationale}"
        right = int(item.id.split("-")[1]) % 2 == 0
        return f" {item.answer if right else int(item.answer) + 1}.\n\nQ: something else 99"

    llm = ScriptedLLM(answer)
    rows = run_cot(llm, CotRun(n=6, conditions=["direct-0", "cot-0", "direct-2", "cot-2"]))
    by = {}
    for r in rows:
        by.setdefault(r["condition"], []).append(r["correct"])
    assert {c: sum(v) / len(v) for c, v in by.items()} == {"direct-0": 0.5, "cot-0": 1.0, "direct-2": 0.5,
                                                           "cot-2": 1.0}
    # one call per (condition, problem): no second stage needed
    assert len(llm.prompts) == 24
    assert rows[0]["steps"] == 2 and rows[0]["expected"] == word_problems(1)[0].answer


def test_zero_shot_cot_asks_for_the_answer_when_none_was_stated():
    known = _answers()

    def answer(prompt, params):
        if prompt.endswith(THEREFORE):
            return f" {known[_last_question(prompt)].answer}."
        return " First we add, then we subtract 1000000 from nothing"   # reasoning without a final answer

    llm = ScriptedLLM(answer)
    rows = run_cot(llm, CotRun(n=3, conditions=["cot-0"]))
    assert all(r["correct"] for r in rows) and all("second_stage" in r for r in rows)
    assert len(llm.prompts) == 6 and llm.prompts[1].endswith("nothing\n" + THEREFORE)
    one_stage = run_cot(ScriptedLLM(answer), CotRun(n=3, conditions=["cot-0"], two_stage=False))
    assert not any(r["correct"] for r in one_stage)   # the last number of the reasoning is not the answer


def test_self_consistency_takes_the_majority():
    """Sample 0 is wrong, samples 1 and 2 right: one greedy sample scores 0, the vote of three scores 1."""
    known = _answers()

    def answer(prompt, params):
        item = known[_last_question(prompt)]
        return f" {int(item.answer) + 1 if params.seed == 0 else item.answer}"

    single = run_cot(ScriptedLLM(answer), CotRun(n=4, conditions=["direct-0"]))
    voted = run_cot(ScriptedLLM(answer), CotRun(n=4, conditions=["direct-0"], samples=3))
    assert not any(r["correct"] for r in single)
    assert all(r["correct"] for r in voted) and len(voted[0]["answers"]) == 3
    params = CotRun(samples=3).params(1)
    assert params.temperature == 0.7 and params.seed == 1
    assert CotRun().params(0).temperature == 0.0


def test_prompts_that_do_not_fit_are_recorded_not_fatal():
    from llmlab.experiments.prompts import cot_prompt

    # direct fits, 4 shots do not
    window = max(len(cot_prompt(i, "direct").text) for i in word_problems(2)) + 50
    rows = run_cot(ScriptedLLM(lambda p, s: " 1", window=window), CotRun(n=2, conditions=["direct-0",
                                                                                          "cot-4"],
                                                                          max_new_tokens=50))
    errors = [r for r in rows if r.get("error")]
    assert [r["condition"] for r in errors] == ["cot-4", "cot-4"] and not any(r["correct"] for r in errors)
    assert "context window" in errors[0]["error"]


def test_icl_harness_scores_exactly():
    """The scripted model labels correctly once it has seen at least two demonstrations."""
    task = icl_task("sentiment")
    truth = {i.question: i.answer for i in task.items}

    def answer(prompt, params):
        query = re.findall(r"Review: (.*)\n", prompt)[-1]
        demos = prompt.count("Review:") - 1
        right = truth[query]
        wrong = "negative" if right == "positive" else "positive"
        return f" {right if demos >= 2 else wrong}\nReview: more"

    rows = run_icl(ScriptedLLM(answer), IclRun(tasks=["sentiment"], shots=[0, 1, 2, 4], n=10))
    acc = {k: sum(r["correct"] for r in rows if r["shots"] == k) / 10 for k in (0, 1, 2, 4)}
    assert acc == {0: 0.0, 1: 0.0, 2: 1.0, 4: 1.0}


def test_icl_free_answers_and_chat_mode():
    task = icl_task("capital")
    truth = {i.question: i.answer for i in task.items}
    seen = []

    class ChatLLM(ScriptedLLM):
        def _generate_chat(self, messages, params):
            seen.append(messages)
            yield Delta(f"{truth[messages[-1]['content']]}.", "stop", 1, 1)

    rows = run_icl(ChatLLM(None), IclRun(tasks=["capital"], shots=[0, 3], n=5, chat=True))
    assert all(r["correct"] for r in rows)
    assert [m["role"] for m in seen[-1]] == ["system", "user", "assistant", "user", "assistant", "user",
                                             "assistant", "user"]


def test_harness_through_a_real_backend(tmp_path):
    """Mechanics on a random-weight model through llmlab.llm (engine backend): every prompt asked, files
    written."""
    from llmlab.experiments.harness_runs import cot_experiment, icl_experiment
    from llmlab.serve.random_model import make_model_dir

    model = make_model_dir(tmp_path / "model", family="gpt2", preset="tiny", tokenizer="bpe",
                           n_positions=1024)
    summary = cot_experiment(f"engine:{model}", CotRun(n=2, conditions=["direct-0", "cot-1"],
                                                       max_new_tokens=8),
                             out=tmp_path / "cot")
    rows = [json.loads(line) for line in (tmp_path / "cot" / "items.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(len(r["outputs"]) == 1 for r in rows) and summary["prompts_too_long"] == 0
    assert (tmp_path / "cot" / "accuracy_by_condition.png").exists()
    assert json.loads((tmp_path / "cot" / "config.json").read_text())["model"] == f"engine:{model}"
    summary = icl_experiment(f"engine:{model}", IclRun(tasks=["reverse"], shots=[0, 2], n=2),
                             out=tmp_path / "icl")
    assert [r["shots"] for r in summary["table"]] == [0, 2] and (tmp_path / "icl" / "summary.json").exists()


def test_cli_show_and_errors(capsys):
    from llmlab.cli import main

    assert main(["cot", "show", "--style", "cot", "--shots", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("Q: ") == 2 and "The answer is" in out and "expected answer:" in out
    assert main(["icl", "show", "--task", "reverse", "--shots", "2", "--chat"]) == 0
    assert "assistant:" in capsys.readouterr().out
    assert main(["cot", "run", "--model", "engine:/nowhere", "--conditions", "cot"]) == 2
    assert "unknown condition" in capsys.readouterr().err
    assert main(["icl", "run", "--model", "engine:/nowhere", "--tasks", "poetry"]) == 2


@pytest.mark.parametrize("args, message", [
    (["icl", "run", "--n", "0"], "ask at least one query"),
    (["icl", "run", "--shots", "0,1,45"], "45 shots asked for, but task 'sentiment' has only 39"),
    (["icl", "run", "--tasks", "poetry"], "unknown in-context task"),
    (["icl", "run", "--samples", "0"], "samples=0"),
    (["cot", "run", "--n", "0"], "ask for at least one problem"),
    (["cot", "run", "--min-steps", "3", "--max-steps", "2"], "steps range"),
    (["cot", "run", "--conditions", "cot"], "unknown condition"),
    (["cot", "run"], "/nowhere"),                       # good settings, a bad model: still no run folder
])
def test_run_settings_are_checked_before_the_model_loads(args, message, runs_dir, capsys):
    """A bad setting is named at once: not after minutes of prompts, and not as a model-loading error."""
    from llmlab.cli import main

    assert main([*args, "--model", "engine:/nowhere"]) == 2
    assert message in capsys.readouterr().err
    assert not runs_dir.exists()                      # and no empty run folder is left behind


def test_experiments_close_the_models_they_load(tmp_path, monkeypatch):
    """A model named by a spec is loaded and closed by the experiment; an LLM object passed in stays the
    caller's."""
    import llmlab.experiments.harness_runs as harness_runs
    from llmlab.experiments.harness_runs import icl_experiment

    class Closing(ScriptedLLM):
        closed = 0

        def close(self):
            self.closed += 1

    cfg = IclRun(tasks=["sentiment"], shots=[0], n=2)
    mine = Closing(lambda p, s: " positive")
    icl_experiment(mine, cfg, out=tmp_path / "object")
    assert mine.closed == 0
    loaded = Closing(lambda p, s: " positive")
    monkeypatch.setattr(harness_runs, "load_llm", lambda spec, **options: loaded)
    summary = icl_experiment("scripted:x", cfg, out=tmp_path / "spec")
    assert loaded.closed == 1 and summary["model"] == "scripted"
