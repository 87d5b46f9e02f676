"""Decoding loops against transformers' `generate` on a tiny random GPT-2: greedy and beam give the same
tokens."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.generation.beam import beam_search
from llmlab.generation.decode import generate, generate_text
from llmlab.tokenizer import CharTokenizer

VOCAB = 48


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64, vocab_size=VOCAB, bos_token_id=None,
                     eos_token_id=None)
    m = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # sharper than the default init, but not so sharp that beams equal greedy
        m.lm_head.weight.mul_(6.0)
    return m


PROMPTS = [[3, 14, 15, 9, 2], [7], [40, 41, 40, 41]]


def _hf(model, prompt, **kw):
    ids = torch.tensor([prompt])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), pad_token_id=0, **kw)
    return out[0, len(prompt):].tolist()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_generate(model, prompt):
    ours = generate(model, prompt, SamplingParams(temperature=0.0, max_new_tokens=20)).tokens[0]
    assert ours == _hf(model, prompt, do_sample=False, max_new_tokens=20, eos_token_id=None)


def test_greedy_with_repetition_penalty_equals_generate(model):
    prompt = PROMPTS[0]
    ours = generate(model, prompt, SamplingParams(temperature=0.0, repetition_penalty=1.5, max_new_tokens=20))
    assert ours.tokens[0] == _hf(model, prompt, do_sample=False, max_new_tokens=20, repetition_penalty=1.5,
                                 eos_token_id=None)


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("beams,length_penalty", [(2, 1.0), (4, 1.0), (3, 0.5)])
def test_beam_equals_generate_without_eos(model, prompt, beams, length_penalty):
    ours = beam_search(model, prompt, num_beams=beams, max_new_tokens=12, length_penalty=length_penalty)
    assert ours.tokens == _hf(model, prompt, do_sample=False, num_beams=beams, max_new_tokens=12,
                              length_penalty=length_penalty, eos_token_id=None)


def test_beam_search_is_not_just_greedy_here(model):
    # guards the parity tests above: on this model beams find other sequences than greedy does
    differs = [beam_search(model, p, num_beams=4, max_new_tokens=12).tokens
               != generate(model, p, SamplingParams(temperature=0.0,
                                                    max_new_tokens=12)).tokens[0] for p in PROMPTS]
    assert any(differs)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_beam_equals_generate_with_eos(model, early_stopping):
    lengths = []
    for prompt in PROMPTS:
        # EOS = a token the EOS-free beam search emits early, so hypotheses really do finish early
        eos = beam_search(model, prompt, num_beams=3, max_new_tokens=15).tokens[3]
        kw = dict(num_beams=3, max_new_tokens=15, early_stopping=early_stopping)
        ours = beam_search(model, prompt, eos_token_id=eos, **kw)
        assert ours.tokens == _hf(model, prompt, do_sample=False, eos_token_id=eos, **kw)
        assert ours.hypotheses[0][1] == ours.score
        lengths += [len(h[0]) for h in ours.hypotheses]
    assert min(lengths) < 15


def test_beam_of_one_is_greedy(model):
    greedy = generate(model, PROMPTS[0], SamplingParams(temperature=0.0, max_new_tokens=10)).tokens[0]
    assert beam_search(model, PROMPTS[0], num_beams=1, max_new_tokens=10).tokens == greedy


def test_sampling_is_seeded_and_top_k_one_is_greedy(model):
    params = SamplingParams(temperature=1.0, top_p=0.9, max_new_tokens=15, seed=5)
    a = generate(model, PROMPTS[0], params, num_samples=3).tokens
    assert a == generate(model, PROMPTS[0], params, num_samples=3).tokens
    greedy = generate(model, PROMPTS[0], SamplingParams(temperature=0.0, max_new_tokens=15)).tokens[0]
    assert generate(model, PROMPTS[0], SamplingParams(top_k=1, max_new_tokens=15, seed=1)).tokens[0] == greedy


@pytest.mark.parametrize("prompt_len", [60, 88])   # crosses the 64-position limit mid-way / starts past it
def test_past_the_position_limit_a_sliding_window_takes_over(model, prompt_len):
    from llmlab.generation.steppers import stepper_for

    # The reference recomputes every step from scratch on the last 64 tokens, without a cache; the
    # logits (not just the argmax, which a weak model keeps from the last token alone) must agree.
    ids = [(7 * i + 3) % VOCAB for i in range(prompt_len)]
    stepper = stepper_for(model)
    with torch.no_grad():
        got = stepper.prefill(torch.tensor([ids]))
        for step in range(12):
            want = model(input_ids=torch.tensor([ids[-64:]])).logits[0, -1]
            torch.testing.assert_close(got[0], want, atol=1e-4, rtol=1e-4, msg=f"step {step}")
            nxt = (5 * step + 1) % VOCAB
            ids.append(nxt)
            got = stepper.step(torch.tensor([nxt]))


def test_stop_strings_and_stop_tokens():
    text = "abcabcabd"
    tok = CharTokenizer.train(text)

    class Cycle(torch.nn.Module):
        """Always predicts the next character of 'abc' cyclically: a model whose output we know."""
        block_size = 8

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids):
            nxt = (ids + 1) % 3                        # ids of a, b, c are 0, 1, 2
            return torch.nn.functional.one_hot(nxt, tok.vocab_size).float() * 10 + self.w

    m = Cycle()
    assert generate_text(m, tok, "a", SamplingParams(temperature=0, max_new_tokens=7)) == "bcabcab"
    cut = generate(m, tok.encode("a"), SamplingParams(temperature=0, max_new_tokens=20, stop=("ca",)),
                   tokenizer=tok)
    assert cut.texts == ["b"] and cut.finish_reasons == ["stop"]
    assert cut.tokens == [[1, 2, 0]]                  # every token generated, up to the one completing "ca"
    by_id = generate(m, tok.encode("a"), SamplingParams(temperature=0, max_new_tokens=20, stop_token_ids=(0,
                                                                                                          )),
                     tokenizer=tok)
    assert by_id.tokens == [[1, 2, 0]] and by_id.finish_reasons == ["stop"]
    # the stop token counts as generated; its text is not shown
    assert by_id.texts == ["bc"]
    with pytest.raises(LabError, match="tokenizer"):
        generate(m, [0], SamplingParams(stop=("x",)))
