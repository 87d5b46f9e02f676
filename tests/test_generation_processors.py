"""Our processors against transformers' own logits processors, on random logits."""

import pytest
import torch
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from llmlab.errors import LabError
from llmlab.generation import (
    SamplingParams,
    apply_temperature,
    find_stop,
    process_logits,
    repetition_penalty,
    sample_next,
    top_k_filter,
    top_p_filter,
)


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 97, generator=g) * 3


def _same(a, b):
    assert torch.equal(torch.isinf(a), torch.isinf(b))
    finite = ~torch.isinf(a)
    torch.testing.assert_close(a[finite], b[finite], rtol=0, atol=1e-6)


@pytest.mark.parametrize("t", [0.3, 0.7, 1.0, 1.9])
def test_temperature(logits, t):
    _same(apply_temperature(logits, t), TemperatureLogitsWarper(t)(None, logits.clone()))


@pytest.mark.parametrize("k", [1, 5, 50, 97])
def test_top_k(logits, k):
    _same(top_k_filter(logits, k), TopKLogitsWarper(k)(None, logits.clone()))


@pytest.mark.parametrize("p", [0.05, 0.5, 0.9, 0.999])
def test_top_p(logits, p):
    _same(top_p_filter(logits, p), TopPLogitsWarper(p)(None, logits.clone()))


@pytest.mark.parametrize("r", [0.8, 1.3, 2.0])
def test_repetition_penalty(logits, r):
    prev = torch.randint(0, 97, (6, 12), generator=torch.Generator().manual_seed(1))
    _same(repetition_penalty(logits, prev, r), RepetitionPenaltyLogitsProcessor(r)(prev, logits.clone()))
    # ragged rows as lists give the same result as the tensor
    _same(repetition_penalty(logits, prev.tolist(), r), repetition_penalty(logits, prev, r))


def test_per_row_params_equal_row_by_row(logits):
    params = [SamplingParams(temperature=0.5 + i / 4, top_k=[0, 3, 10, 0, 40, 2][i], top_p=[1.0, 0.9, 0.5,
                                                                                            0.3, 1.0, 0.8][i],
                             repetition_penalty=1.0 + i / 10) for i in range(6)]
    prev = [[1, 2, 3], [], [5, 5, 90], [7], [0, 96], [4, 4, 4, 4]]
    batched = process_logits(logits, params, prev)
    for i, q in enumerate(params):
        _same(batched[i:i + 1], process_logits(logits[i:i + 1], q, [prev[i]]))


def test_greedy_and_seeded_sampling(logits):
    greedy = sample_next(logits, SamplingParams(temperature=0.0))
    assert torch.equal(greedy, logits.argmax(-1))
    params = SamplingParams(temperature=1.0, top_k=5, seed=3)
    a = sample_next(logits, params, generators=[torch.Generator().manual_seed(3) for _ in range(6)])
    b = sample_next(logits, params, generators=[torch.Generator().manual_seed(3) for _ in range(6)])
    assert torch.equal(a, b)
    top5 = torch.topk(logits, 5).indices
    assert all(int(a[i]) in top5[i].tolist() for i in range(6))
    assert sample_next(logits[0].numpy(), SamplingParams(temperature=0.0)).item() == int(logits[0].argmax())


def test_invalid_params_are_clear_errors():
    for bad in (dict(temperature=-1), dict(top_p=0.0), dict(top_p=1.5), dict(top_k=-2),
                dict(max_new_tokens=-1),
                dict(repetition_penalty=0)):
        with pytest.raises(LabError):
            SamplingParams(**bad)


def test_stop_strings_across_token_boundaries():
    assert find_stop("hello wor", ["world"]) == -1
    assert find_stop("hello world!", ["world", "!"], start=9) == 6
    assert find_stop("abc", []) == -1
