"""Speculative decoding: greedy output token for token the target's, sampling distributed as the target's,
rejected drafts' blocks given back, acceptance counted."""

import pytest
import torch
from scipy.stats import chisquare

from llmlab.generation import SamplingParams
from llmlab.serve.config import EngineConfig
from llmlab.serve.engine import Engine
from llmlab.serve.metrics import EngineMetrics, parse_metrics
from llmlab.serve.random_model import make_model_dir
from llmlab.serve.speculative import verify

PROMPTS = ["the quick brown fox jumps over the lazy dog. the quick brown", "hello world", "0123456789 0123"]
GREEDY = SamplingParams(temperature=0, max_new_tokens=12)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("spec")
    target = make_model_dir(root / "target", n_layer=2, n_embd=64, tokenizer="bpe", seed=1)
    draft = make_model_dir(root / "draft", n_layer=1, n_embd=32, tokenizer="bpe", seed=2)
    return target, draft


def engine(target, **kw):
    return Engine(EngineConfig(model=str(target), device="cpu", num_blocks=256, block_size=4, **kw))


@pytest.mark.parametrize("proposer", ["ngram", "draft", "self"])
def test_greedy_output_is_the_targets_and_rejected_blocks_go_back(dirs, proposer):
    target, draft = dirs
    spec = {"ngram": "ngram", "draft": f"draft:{draft}", "self": f"draft:{target}"}[proposer]
    plain = engine(target).generate(PROMPTS, GREEDY)
    e = engine(target, speculative=spec, num_speculative_tokens=3)
    ids = [e.add_request(p, GREEDY) for p in PROMPTS]
    reqs = [e.requests[i] for i in ids]
    while e.has_unfinished():
        e.step()
        e.allocator.check()
        for r in e.scheduler.running:      # no block beyond the request's verified tokens survives a step
            assert len(r.block_ids) <= e.tables.blocks_needed(r.num_tokens) and not r.drafts
            assert r.num_computed == r.num_tokens - 1
    assert [r.output_ids for r in reqs] == [c.token_ids for c in plain]
    assert e.allocator.num_in_use == 0
    stats = e.stats()
    assert stats["spec_verifications"] > 0 and stats["spec_draft_tokens"] > 0
    if proposer == "self":                 # the target drafting for itself: every draft is accepted
        assert stats["spec_acceptance_rate"] == 1.0 and stats["spec_mean_accepted_length"] > 3.0
        assert e.steps < len(PROMPTS) * GREEDY.max_new_tokens / 3
    if proposer != "ngram":
        return
    # the blocks named in the prefix cache while speculating hold the verified tokens: continuing the
    # answers from the cache gives what the plain engine gives
    longer = [c.prompt_ids + c.token_ids for c in plain]
    again = e.generate(longer, GREEDY)
    # every full block of the first run's computed tokens (all but the last output) is found again
    assert [c.cached_tokens for c in again] == [(len(x) - 1) // 4 * 4 for x in longer]
    assert [c.token_ids for c in again] == [c.token_ids for c in engine(target).generate(longer, GREEDY)]


def _empirical(p_logits, q, trials, generator):
    """Counts of the first and of the second emitted token over `trials` verifications of 2 drafts."""
    V = p_logits.shape[-1]
    first, second = torch.zeros(V), torch.zeros(V)
    params = SamplingParams(temperature=1.0)
    for _ in range(trials):
        if q is None:
            drafts = torch.randint(0, V, (2,), generator=generator).tolist()
        else:
            drafts = [int(torch.multinomial(q[i], 1, generator=generator)) for i in range(2)]
        out = verify(p_logits, params, drafts, q, generator)
        first[out[0]] += 1
        if len(out) > 1:
            second[out[1]] += 1
    return first, second


@pytest.mark.parametrize("with_q", [True, False], ids=["draft-model", "prompt-lookup"])
def test_rejection_sampling_keeps_the_target_distribution(with_q):
    g = torch.Generator().manual_seed(0)
    V, trials = 4, 1000
    p_logits = torch.randn(3, V, generator=g) * 1.5          # the target's rows after 0, 1, 2 drafts
    q = torch.softmax(torch.randn(2, V, generator=g) * 1.5, -1) if with_q else None
    p = torch.softmax(p_logits, -1)
    first, second = _empirical(p_logits, q, trials, g)
    for counts, row in ((first, p[0]), (second, p[1])):
        n = counts.sum()
        assert n > 150
        assert chisquare(counts.numpy(), (row * n).numpy()).pvalue > 1e-3
    # and the test has power: keeping every draft would give q's (or the guesses') distribution instead
    biased = (q[0] if with_q else torch.full((V,), 1 / V)) * trials
    assert chisquare(biased.numpy(), (p[0] * trials).numpy()).pvalue < 1e-6


def test_acceptance_reaches_metrics(dirs):
    target, _ = dirs
    metrics = EngineMetrics()
    e = Engine(EngineConfig(model=str(target), device="cpu", num_blocks=128, block_size=4,
                            speculative=f"draft:{target}", num_speculative_tokens=2), metrics=metrics)
    metrics.bind(e)
    e.generate(["hello"], SamplingParams(temperature=0, max_new_tokens=9))
    m = parse_metrics(metrics.render().decode())
    assert m["llmlab_spec_acceptance_rate"] == 1.0 and m["llmlab_spec_accepted_tokens"] > 0
    assert m["llmlab_spec_mean_accepted_length"] == e.stats()["spec_mean_accepted_length"] > 1
