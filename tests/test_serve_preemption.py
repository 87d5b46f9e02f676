"""The engine under memory pressure equals transformers' greedy `generate`, token for token.

Seeded random workloads on a tiny random GPT-2: a KV cache of a few blocks, requests arriving over several
steps, shared prompt stems and repeated prompts (prefix hits), step budgets smaller than the prompts
(chunked prefill). Requests run out of blocks, so the scheduler preempts them, the allocator evicts cached
blocks, and preempted requests come back with other blocks; every request must still get exactly the tokens
`generate` gives for its prompt alone. A block table that outlived its blocks fails here.
"""

import random
from dataclasses import dataclass

import pytest
import torch
from transformers import AutoModelForCausalLM

from llmlab.generation import SamplingParams
from llmlab.serve.config import EngineConfig
from llmlab.serve.engine import Engine
from llmlab.serve.random_model import make_model_dir


@dataclass(frozen=True)
class Pressure:
    """The ranges a workload's engine and requests are drawn from."""
    seeds: range
    block_sizes: tuple[int, ...]
    num_blocks: tuple[int, int]
    requests: tuple[int, int]
    max_num_seqs: tuple[int, int]
    budget: tuple[int, int]        # max_batched_tokens
    max_new: tuple[int, int]
    arrival_steps: int             # requests arrive over this many steps


PRESSURES = {
    "workloads": Pressure(range(60), (4,), (8, 16), (2, 7), (2, 7), (4, 24), (4, 16), 6),
    # held out: drawn from other seeds, block sizes, cache sizes and budgets than the fix was checked on
    "held-out": Pressure(range(1000, 1030), (2, 8), (6, 20), (3, 9), (1, 9), (3, 40), (1, 16), 10),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A model this small runs fastest on one thread (on a busy machine two wait on each other, 5-10x
    slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("gpt2"), family="gpt2", n_layer=2, n_embd=32, n_head=2)


@pytest.fixture(scope="module")
def hf_model(model_dir):
    return AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()


def greedy_reference(hf, prompt: list[int], n: int) -> list[int]:
    with torch.no_grad():
        out = hf.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False, eos_token_id=None,
                          pad_token_id=0, attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    return out[0, len(prompt):].tolist()


def draw_workload(p: Pressure, seed: int, vocab: int) -> tuple[dict, list[tuple[int, list[int], int]]]:
    """(engine config, [(arrival step, prompt, max_new_tokens), ...]); every request fits the cache alone."""
    rng = random.Random(seed)
    bs = rng.choice(p.block_sizes)
    num_blocks = rng.randint(*p.num_blocks)
    config = dict(block_size=bs, num_blocks=num_blocks, max_num_seqs=rng.randint(*p.max_num_seqs),
                  max_batched_tokens=rng.randint(*p.budget), rows_only=rng.random() < 0.5, graph_max_rows=16)
    capacity = (num_blocks - 1) * bs                     # block 0 is the null block
    stems = [[rng.randrange(vocab) for _ in range(bs * rng.randint(1, 3))] for _ in range(2)]
    requests = []
    for _ in range(rng.randint(*p.requests)):
        max_new = min(rng.randint(*p.max_new), capacity - 1)
        if requests and rng.random() < 0.2:              # the same prompt again: a hit on its whole prefix
            prompt = list(rng.choice(requests)[1])
        else:
            prompt = list(rng.choice(stems)) if rng.random() < 0.6 else []
            prompt += [rng.randrange(vocab) for _ in range(rng.randint(1, 3 * bs))]
        prompt = prompt[:capacity - max_new] or [rng.randrange(vocab)]
        requests.append((rng.randrange(p.arrival_steps), prompt, max_new))
    return config, requests


def run_workload(model_dir, config: dict, requests) -> tuple[list[list[int]], dict]:
    """Add each request at its arrival step and step the engine until every one has finished."""
    engine = Engine(EngineConfig(model=str(model_dir), device="cpu", **config))
    pending = sorted(range(len(requests)), key=lambda i: requests[i][0])
    reqs, step, chunked = {}, 0, False
    while pending or any(not r.finished for r in reqs.values()):
        while pending and requests[pending[0]][0] <= step:
            i = pending.pop(0)
            _, prompt, max_new = requests[i]
            rid = engine.add_request(prompt, SamplingParams(temperature=0.0, max_new_tokens=max_new),
                                     ignore_eos=True)
            reqs[i] = engine.requests[rid]
        # a prompt prefilled over several steps: one step's share of it stops short of its end
        chunked |= any(r.num_computed < r.num_prompt and r.num_computed > 0 for r in reqs.values())
        engine.step()
        step += 1
        assert step < 5000, "the engine stopped making progress"
    engine.allocator.check()
    assert engine.allocator.num_in_use == 0
    stats = engine.stats()
    stats["chunked"] = chunked
    return [reqs[i].output_ids for i in range(len(requests))], stats


@pytest.mark.parametrize("pressure", list(PRESSURES))
def test_random_workloads_under_memory_pressure_equal_generate(model_dir, hf_model, pressure):
    p = PRESSURES[pressure]
    vocab = hf_model.config.vocab_size
    wrong, totals = [], dict(preemptions=0, evictions=0, prefix_hit_tokens=0, graph_steps=0, chunked=0)
    for seed in p.seeds:
        config, requests = draw_workload(p, seed, vocab)
        outputs, stats = run_workload(model_dir, config, requests)
        for k in totals:
            totals[k] += int(stats[k])
        for (_, prompt, max_new), got in zip(requests, outputs, strict=True):
            want = greedy_reference(hf_model, prompt, max_new)
            if got != want:
                wrong.append(f"seed {seed} {config}: prompt {prompt} gave {got}, generate gives {want}")
    # the workloads must exercise what this test is about, or its passing says nothing
    assert all(totals.values()), totals
    seeds = sorted({w.split()[1] for w in wrong})
    assert not wrong, (f"{len(wrong)} requests in {len(seeds)} of {len(p.seeds)} workloads differ from "
                       f"generate:\n"
                       + "\n".join(wrong[:5]))


@pytest.mark.parametrize("rows_only", [False, True], ids=["eager", "graph-layout"])
def test_a_readmitted_request_reads_its_new_blocks_not_its_old_ones(model_dir, hf_model, rows_only):
    # without the prefix cache, a re-admitted request takes fresh blocks from the front of the free list
    engine = Engine(EngineConfig(model=str(model_dir), device="cpu", block_size=4, num_blocks=16,
                                 enable_prefix_caching=False, rows_only=rows_only, graph_max_rows=16))
    prompt = [5, 9, 2, 14, 3, 8, 11]
    rid = engine.add_request(prompt, SamplingParams(temperature=0.0, max_new_tokens=8), ignore_eos=True)
    req = engine.requests[rid]
    for _ in range(3):              # prefill, then decode positions 7 and 8 through a 3-block table
        engine.step()
    old = list(req.block_ids)
    engine.scheduler._preempt(engine.scheduler.running.pop())
    engine.kv.data[:, :, old] = 3.0                       # another request overwrites the freed blocks
    while not req.finished:         # back with 10 tokens: the next decode reads 3 blocks again, other ones
        engine.step()
        assert not set(req.block_ids) & set(old)
    assert req.num_preemptions == 1
    assert req.output_ids == greedy_reference(hf_model, prompt, 8)
