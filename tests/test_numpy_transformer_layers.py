"""Each NumPy layer's backward against central finite differences (float64), masks, and NumPy-only imports."""

import subprocess
import sys

import numpy as np
import pytest

from llmlab.errors import LabError
from llmlab.numpy_transformer import GPT, GPTConfig
from llmlab.numpy_transformer.activations import GELU
from llmlab.numpy_transformer.embedding import sinusoidal_table
from llmlab.numpy_transformer.gradcheck import TOLERANCE, check_function, layer_gradient_checks
from llmlab.numpy_transformer.masks import attention_bias, causal_mask


@pytest.fixture(scope="module")
def gradient_rows():
    return {r["check"]: r for r in layer_gradient_checks(seed=0)}


@pytest.mark.parametrize("layer", ["Linear", "Embedding", "LayerNorm", "GELU", "ReLU", "softmax",
                                   "masked multi-head attention", "MLP", "pre-LN block", "cross-entropy",
                                   "whole GPT"])
def test_backward_equals_finite_differences(gradient_rows, layer):
    (row,) = [r for name, r in gradient_rows.items() if layer in name]
    assert row["value"] <= TOLERANCE, row


def test_a_wrong_backward_is_caught():
    """The check itself must be able to fail: GELU with the derivative of tanh dropped."""
    rng = np.random.default_rng(0)
    gelu = GELU()
    x = rng.standard_normal((3, 7))

    def wrong_backward(dy):
        return 0.5 * (1 + gelu._t) * dy      # forgets the x (1 - t²) k (1 + 3 a x²) term

    errors = check_function(gelu.forward, wrong_backward, x, None, rng)
    assert errors["input"] > 1e-2


def test_causal_mask_with_a_cache_offset():
    # 2 new queries after 3 cached positions: query 0 sees keys 0..3, query 1 sees 0..4
    m = causal_mask(2, 5)
    assert m.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]


def test_padding_hides_pad_keys_and_never_leaves_a_row_empty():
    pad = np.array([[0, 0, 1, 1]])      # left padding
    bias = attention_bias(4, 4, pad, np.float64)[0, 0]
    visible = bias == 0
    assert visible[2].tolist() == [False, False, True, False]
    assert visible[3].tolist() == [False, False, True, True]
    # a pad query with nothing to see sees everything (its output is unused)
    assert visible[0].all()


def test_sinusoidal_table_matches_the_paper():
    table = sinusoidal_table(50, 8, np.float64)
    pos, i = 7, 2
    assert table[pos, 2 * i] == pytest.approx(np.sin(pos / 10000 ** (2 * i / 8)))
    assert table[pos, 2 * i + 1] == pytest.approx(np.cos(pos / 10000 ** (2 * i / 8)))


def test_sinusoidal_model_trains_its_other_parameters():
    cfg = GPTConfig(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2, positional="sinusoidal")
    model = GPT(cfg, dtype="float64")
    ids = np.arange(12).reshape(2, 6) % 11
    model.forward(ids, np.roll(ids, -1, 1))
    model.backward()
    names = [n for n, _, _ in model.named_parameters()]
    assert "wpe.weight" not in names and np.abs(model.grads_of("wte.weight")).sum() > 0


def test_bad_input_is_a_lab_error():
    model = GPT(GPTConfig(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2))
    with pytest.raises(LabError, match="context is 8 tokens"):
        model(np.zeros((1, 9), dtype=int))
    with pytest.raises(LabError, match="token ids must be in"):
        model(np.array([[3, 11]]))
    with pytest.raises(LabError, match="not divisible"):
        GPTConfig(n_embd=10, n_head=3)


def test_the_model_layers_optimizer_and_loop_import_only_numpy():
    modules = ["model", "module", "linear", "embedding", "layernorm", "activations", "attention", "block",
               "loss", "masks", "kv_cache", "optim", "train", "sampling", "checkpoint", "gradcheck", "blas"]
    code = ("import sys\n" + "".join(f"import llmlab.numpy_transformer.{m}\n" for m in modules)
            + "bad = [m for m in ('torch', 'transformers') if m in sys.modules]\nprint(bad)\n"
            + "raise SystemExit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
