"""Per-head metrics on attention patterns built by hand, whose scores follow from their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from llmlab.attention.analysis import induction_test
from llmlab.attention.capture import AttentionModel
from llmlab.attention.metrics import (
    classify_heads,
    head_metrics,
    metric_deltas,
    repeated_random_ids,
    repetition_scores,
    top_changes,
)

T = 9


def as_capture(*patterns: np.ndarray) -> np.ndarray:
    """(T, T) patterns -> probs (L=1, B=1, H=len(patterns), T, T)."""
    return np.stack(patterns)[None, None]


def one_hot_rows(targets) -> np.ndarray:
    a = np.zeros((len(targets), len(targets)))
    a[np.arange(len(targets)), targets] = 1.0
    return a


PREVIOUS = one_hot_rows([0] + list(range(T - 1)))           # query i -> key i-1
SELF = np.eye(T)
SINK = one_hot_rows([0] * T)
UNIFORM = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]


def test_pure_patterns_score_as_defined():
    m = head_metrics(as_capture(PREVIOUS, SELF, SINK, UNIFORM))
    get = {k: v[0] for k, v in m.items()}                    # (H,) per metric
    np.testing.assert_allclose(get["previous_token"], [1.0, 0.0, 1 / (T - 1),
                                                       np.mean([1 / (i + 1) for i in range(1, T)])])
    np.testing.assert_allclose(get["self"][:3], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(get["sink"][:3], [1 / (T - 1), 0.0, 1.0])
    # distance: one token back, none, and i tokens back for query i (mean of 1..T-1), i/2 for uniform
    np.testing.assert_allclose(get["distance"], [1.0, 0.0, T / 2, np.mean(np.arange(1, T) / 2)])
    # a one-hot row has no entropy; the uniform row has the most: ln(i+1), i.e. 1 after normalising
    np.testing.assert_allclose(get["entropy"][:3], 0.0, atol=1e-12)
    np.testing.assert_allclose(get["entropy_norm"][3], 1.0)
    np.testing.assert_allclose(get["entropy"][3], np.mean(np.log(np.arange(2, T + 1))))


def test_batch_and_layers_average_per_head():
    # (2,1,2,T,T)
    probs = np.stack([as_capture(PREVIOUS, SELF)[0, 0], as_capture(SELF, PREVIOUS)[0, 0]])[:, None]
    # B=2, heads swapped
    probs = np.concatenate([probs, probs[:, :, ::-1]], axis=1)
    m = head_metrics(probs)
    np.testing.assert_allclose(m["previous_token"], 0.5)


@pytest.mark.parametrize("prefix", [0, 1])
def test_induction_and_duplicate_patterns(prefix):
    period = 5
    t = prefix + 2 * period
    # targets before the second copy: self (irrelevant)
    first_copy = list(range(t))
    induction = one_hot_rows(first_copy[:prefix + period] + [i - period + 1 for i in range(prefix + period,
                                                                                           t)])
    duplicate = one_hot_rows(first_copy[:prefix + period] + [i - period for i in range(prefix + period, t)])
    scores = repetition_scores(as_capture(induction, duplicate, np.tril(np.ones((t, t))) / np.arange(1,
                                                                                                     t + 1)[:,
                                                                                                            None]),
                               period, prefix)
    np.testing.assert_allclose(scores["induction"][0][:2], [1.0, 0.0])
    np.testing.assert_allclose(scores["duplicate"][0][:2], [0.0, 1.0])
    assert scores["induction"][0][2] < 0.2


def test_repeated_random_ids():
    ids = repeated_random_ids(50, period=7, batch=3, seed=1, prefix=[49], exclude={0, 49})
    assert ids.shape == (3, 15)
    assert (ids[:, 0] == 49).all()
    np.testing.assert_array_equal(ids[:, 1:8], ids[:, 8:])
    assert not np.isin(ids[:, 1:], [0, 49]).any()


def test_classification_of_built_heads():
    m = head_metrics(as_capture(PREVIOUS, SELF, SINK, UNIFORM))
    m["induction"] = np.array([[0.0, 0.0, 0.0, 0.0]])
    m["duplicate"] = np.zeros((1, 4))
    assert list(classify_heads(m)[0]) == ["previous-token", "self", "sink", "broad"]
    m["induction"][0, 3] = 0.9
    assert classify_heads(m)[0, 3] == "induction"


def test_metric_deltas_and_top_changes():
    a = head_metrics(as_capture(PREVIOUS, SELF))
    b = head_metrics(as_capture(SELF, SELF))
    deltas = metric_deltas(a, b)
    np.testing.assert_allclose(deltas["previous_token"], [[-1.0, 0.0]])
    top = top_changes(deltas, k=2)
    assert {(r["metric"], r["layer"], r["head"]) for r in top} == {("previous_token", 0, 0), ("self", 0, 0)}
    assert all(abs(r["delta"]) == 1.0 for r in top)


class PatternModel(AttentionModel):
    """A stand-in model whose heads follow rules on the ids: head 0 is content-based induction (attend to the
    token after the latest earlier copy of the current token), head 1 always looks 9 tokens back."""
    name, n_layers, n_heads, vocab_size, max_positions, tokenizer = "rules", 1, 2, 1000, None, None

    def _forward(self, ids):
        b, t = ids.shape
        probs = np.zeros((1, b, 2, t, t))
        for row in range(b):
            for i in range(t):
                earlier = [j for j in range(i) if ids[row, j] == ids[row, i]]
                probs[0, row, 0, i, earlier[-1] + 1 if earlier else i] = 1.0
                probs[0, row, 1, i, max(i - 9, 0)] = 1.0
        return probs


def test_induction_test_separates_induction_from_a_fixed_offset():
    scores = induction_test(PatternModel(), period=10, batch=3)
    assert scores["induction"][0, 0] == pytest.approx(1.0)
    assert scores["induction"][0, 1] == pytest.approx(0.0)    # matches period 10 (offset 9), not period 6
    assert scores["duplicate"][0, 0] == pytest.approx(0.0)
