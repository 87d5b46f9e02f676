"""Project 6's exercises (attention heads): llmlab's own code passes each grader (P rebuilt from q and k,
hand-built maps with known answers, llmlab.attention.metrics), the untouched stub fails it clearly, planted
bugs fail it;
`run attention --mine` with llmlab's pieces copied gives the reference's table exactly and falls back per
piece."""

import numpy as np
import pytest

from learn_helpers import contract_tests, grade_text, planted
from llmlab.cli import main
from llmlab.learn.catalog import project
from llmlab.learn.check import check_project

PROJECT = project("attention")
NAMES = [ex.name for ex in PROJECT.exercises]

# (what, old, new, replace every occurrence)
BUGS = {
    "capture": [
        ("the log of P kept (pre-softmax scores, shifted per row)", "seen[i] = output[1].detach()",
         "seen[i] = output[1].detach().log()", False),
        ("fused SDPA left on: no probabilities are formed",
         "        model.set_attn_implementation(\"eager\")\n",
         "        pass\n", False),
        ("hooks never removed", "            handle.remove()\n", "            pass\n", False),
        ("the attention implementation not put back", "            model.set_attn_implementation(previous)\n",
         "            pass\n", False),
    ],
    "head_metrics": [
        ("entropy in bits (log2) instead of nats", "a * np.log(np.where(a > 0, a, 1.0))",
         "a * np.log2(np.where(a > 0, a, 1.0))", False),
        ("previous-token score read on the diagonal", "\"previous_token\": a[..., rows, q - 1]",
         "\"previous_token\": a[..., rows, q]", False),
        ("query 0 kept in the means", "a = probs[..., 1:, :]",
         "a = probs[..., 1:, :]\n    a = np.concatenate("
         "[probs[..., :1, :], a], axis=-2)[..., :-1, :]", False),
    ],
    "induction": [
        ("induction read at i - period (the duplicate)", "probs[..., queries, queries - period + 1]",
         "probs[..., queries, queries - period]", False),
        ("the prefix ignored", "queries = np.arange(prefix + period, prefix + 2 * period)",
         "queries = np.arange(period, 2 * period)", False),
        ("queries of the first copy counted too", "queries = np.arange(prefix + period, prefix + 2 * period)",
         "queries = np.arange(prefix + 1, prefix + 2 * period)", False),
    ],
}


# every exercise: two planted bugs or more, llmlab passes, the stub fails clearly, each bug fails
(test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
 test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails) = contract_tests("attention", BUGS)


def test_a_failing_case_is_said_in_words(tmp_path):
    text = planted("attention", "head_metrics", "\"previous_token\": a[..., rows, q - 1]",
                   "\"previous_token\": a[..., rows, q]")
    message = grade_text(tmp_path, "attention", "head_metrics", text).message
    assert "head_metrics(probs)['previous_token']" in message and "a pure previous-token head" in message
    text = planted("attention", "capture", "seen[i] = output[1].detach()",
                   "seen[i] = output[1].detach().log()")
    assert "after the softmax" in grade_text(tmp_path, "attention", "capture", text).message


def _solve(root, skip=()):
    main(["learn", "start", "attention", "--dir", str(root)])
    for ex in PROJECT.exercises:
        if ex.name not in skip:
            (root / "attention" / ex.stub).write_text(PROJECT.solved_text(ex))


@pytest.fixture(scope="module")
def tiny_model():
    from llmlab.learn.mine_attention import random_model

    return random_model(seed=0)


def test_run_mine_with_llmlabs_pieces_gives_the_reference_table_exactly(tmp_path, tiny_model):
    from llmlab.learn.mine_attention import run_attention

    _solve(tmp_path)
    _, modules = check_project(tmp_path, PROJECT)
    assert sorted(modules) == sorted(NAMES)
    result = run_attention(tmp_path / "attention", modules, model=tiny_model, log=lambda m: None)
    assert result["identical"]
    ref = result["reference"]
    assert set(ref) >= {"entropy", "previous_token", "induction"} and ref["entropy"].shape == (2, 4)
    assert np.array_equal(ref["previous_token"], result["mine"]["previous_token"])


def test_the_learners_pieces_are_the_ones_that_run(tmp_path, tiny_model):
    """A passing capture and metrics of the learner's that count their calls: the run must call both."""
    from llmlab.learn.mine_attention import run_attention

    _solve(tmp_path)
    for stub, name in (("capture.py", "capture_attention"), ("head_metrics.py", "head_metrics")):
        path = tmp_path / "attention" / stub
        path.write_text(path.read_text() + f"\n\nCALLS = []\n_inner = {name}\n\n\n"
                        f"def {name}(*args, **kw):\n    CALLS.append(1)\n    return _inner(*args, **kw)\n")
    _, modules = check_project(tmp_path, PROJECT)
    for name in ("capture", "head_metrics"):
        modules[name].CALLS.clear()
    result = run_attention(tmp_path / "attention", modules, model=tiny_model, log=lambda m: None)
    assert modules["capture"].CALLS and modules["head_metrics"].CALLS
    assert result["identical"]


def test_a_wrong_piece_shows_in_the_table(tmp_path, tiny_model):
    """A learner's metrics that pass no check are not used; forced in, the difference shows."""
    from llmlab.learn.mine_attention import run_attention

    _solve(tmp_path)
    _, modules = check_project(tmp_path, PROJECT)
    bad = type(modules["head_metrics"])("bad")
    bad.head_metrics = lambda probs: {k: v * 2 for k,
                                      v in modules["head_metrics"].head_metrics(probs).items()}
    result = run_attention(tmp_path / "attention", {**modules, "head_metrics": bad}, model=tiny_model,
                           log=lambda m: None)
    assert not result["identical"]


def test_a_stubbed_piece_falls_back_and_says_so(tmp_path, capsys, monkeypatch, tiny_model):
    import llmlab.learn.mine_attention as mine

    monkeypatch.setattr(mine, "trained_toy", lambda folder, steps, seed, log: tiny_model)
    _solve(tmp_path, skip=("induction",))
    assert main(["learn", "run", "attention", "--mine", "--steps", "3", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "llmlab’s  induction" in out and "yours     capture" in out
    assert "layer head" in out and "(identical)" in out
    assert "mine: capture, head_metrics)" in (tmp_path / "PROGRESS.md").read_text()
