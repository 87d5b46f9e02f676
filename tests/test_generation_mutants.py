"""Logits processors and beam search against transformers in the cases mutation testing (`make mutation`)
found untested: a tiny top_p, an empty history, greedy rows in a tensor batch, the processors' order, sampling
next to greedy rows, and beam search with a repetition penalty."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from llmlab.generation import SamplingParams, process_logits, repetition_penalty, sample_next, top_p_filter
from llmlab.generation.beam import beam_search


@pytest.fixture
def logits():
    return torch.randn(4, 50, generator=torch.Generator().manual_seed(3)) * 3


def test_a_tiny_top_p_keeps_exactly_the_most_likely_token(logits):
    # in float32 1 - 1e-9 rounds to 1.0, so only the guard keeps the top token from being dropped
    out = top_p_filter(logits, 1e-9)
    ref = TopPLogitsWarper(1e-9)(None, logits.clone())
    assert torch.equal(torch.isfinite(out), torch.isfinite(ref))
    assert torch.isfinite(out).sum(dim=-1).tolist() == [1] * 4
    assert torch.equal(out.argmax(dim=-1), logits.argmax(dim=-1))


def test_a_row_with_no_history_is_not_penalised(logits):
    out = repetition_penalty(logits[:2], [[], [3, 5]], 2.0)
    assert torch.equal(out[0], logits[0])
    prev = torch.tensor([[3, 5]])
    torch.testing.assert_close(out[1:], RepetitionPenaltyLogitsProcessor(2.0)(prev, logits[1:2].clone()))


def test_greedy_rows_in_a_mixed_batch_are_left_as_they_are(logits):
    rows = [SamplingParams(temperature=0.0), SamplingParams(temperature=0.5)]
    out = process_logits(logits[:2], rows)
    assert torch.equal(out[0], logits[0])
    torch.testing.assert_close(out[1], logits[1] / 0.5)


def test_in_a_mixed_batch_greedy_rows_take_the_argmax_and_the_others_sample(logits):
    rows = torch.stack([logits[0], torch.zeros(50)])          # row 1: uniform, so its argmax is token 0
    params = [SamplingParams(temperature=0.0), SamplingParams(temperature=1.0)]
    drawn = [sample_next(rows, params, generators=[None,
                                                   torch.Generator().manual_seed(s)]) for s in range(20)]
    assert all(int(d[0]) == int(logits[0].argmax()) for d in drawn)
    assert len({int(d[1]) for d in drawn}) > 5                # 20 draws from 50 equal tokens


def test_processors_run_in_transformers_order(logits):
    # top-p after temperature: the nucleus of the sharpened distribution, not of the raw one
    prev = torch.tensor([[1, 2, 3]] * 4)
    params = SamplingParams(temperature=0.4, top_k=20, top_p=0.6, repetition_penalty=1.5)
    chain = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(1.5), TemperatureLogitsWarper(0.4),
                                 TopKLogitsWarper(20), TopPLogitsWarper(0.6)])
    ours, ref = process_logits(logits, params, prev), chain(prev, logits.clone())
    assert torch.equal(torch.isinf(ours), torch.isinf(ref))
    torch.testing.assert_close(ours[torch.isfinite(ours)], ref[torch.isfinite(ref)])


def test_beam_search_with_a_repetition_penalty_equals_generate():
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64, vocab_size=48, bos_token_id=None,
                     eos_token_id=None)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(3.0)
    prompt = [3, 14, 15, 9, 2]
    ids = torch.tensor([prompt])
    ref = model.generate(ids, attention_mask=torch.ones_like(ids), pad_token_id=0, num_beams=3,
                         do_sample=False,
                         max_new_tokens=12, repetition_penalty=2.0)[0, len(prompt):].tolist()
    plain = beam_search(model, prompt, num_beams=3, max_new_tokens=12).tokens
    assert plain != ref, "the penalty must change this search, or the test proves nothing"
    assert beam_search(model, prompt, num_beams=3, max_new_tokens=12, repetition_penalty=2.0).tokens == ref


def test_every_finished_beam_equals_generates_returned_sequences():
    # without length normalisation short hypotheses compete: only the top N candidates of a step may finish
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=64, vocab_size=12, bos_token_id=None,
                     eos_token_id=None)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(2.0)
    ids = torch.tensor([[5]])
    ref = model.generate(ids, attention_mask=torch.ones_like(ids), pad_token_id=0, num_beams=2,
                         do_sample=False,
                         max_new_tokens=4, eos_token_id=1, length_penalty=0.0, num_return_sequences=2)
    ours = beam_search(model, [5], num_beams=2, max_new_tokens=4, eos_token_id=1, length_penalty=0.0)
    assert [tokens for tokens, _ in ours.hypotheses] == ref[:, 1:].tolist()
