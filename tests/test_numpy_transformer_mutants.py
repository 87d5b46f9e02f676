"""NumPy Transformer behaviours that mutation testing (`make mutation`) found no test for: numerically stable
softmax and cross-entropy on huge scores, and the Linear bias."""

import math

import numpy as np
import pytest

from llmlab.numpy_transformer.activations import softmax_
from llmlab.numpy_transformer.linear import Linear
from llmlab.numpy_transformer.loss import CrossEntropy


def test_softmax_is_stable_on_huge_scores():
    # exp(1000) overflows float64; the max shift keeps every probability finite and exact
    p = softmax_(np.array([[1000.0, 999.0, -1000.0]]))
    e = math.exp(-1.0)
    np.testing.assert_allclose(p[0], [1 / (1 + e), e / (1 + e), 0.0], rtol=1e-15, atol=1e-300)


def test_cross_entropy_is_stable_on_huge_logits():
    ce = CrossEntropy()
    loss = ce.forward(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([1, 1]))
    assert loss == pytest.approx(500.0, rel=1e-12)          # rows lose 1000 and ~0 nats
    grad = ce.backward()
    np.testing.assert_allclose(grad, [[0.5, -0.5], [0.0, 0.0]], atol=1e-12)


def test_linear_adds_its_bias():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2, rng, dtype=np.float64)
    layer.params["bias"][:] = [1.5, -2.0]
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer.forward(x), x @ layer.params["weight"] + [1.5, -2.0], rtol=1e-14)



def test_cross_entropy_averages_over_the_targets_it_does_not_ignore():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((6, 5)), np.array([1, -100, 3, -100, 0, 4])
    ref = F.cross_entropy(torch.tensor(logits), torch.tensor(targets), ignore_index=-100)
    assert CrossEntropy().forward(logits.copy(), targets) == pytest.approx(float(ref), rel=1e-12)
