"""The serving engine against transformers: logits, greedy generation, prefix cache, eviction, chunked
prefill."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from llmlab.errors import ContextWindowError, LabError
from llmlab.generation import SamplingParams
from llmlab.serve.config import EngineConfig
from llmlab.serve.engine import Engine
from llmlab.serve.paged_attention import AttentionBatch, PagedKVCache, Segment
from llmlab.serve.random_model import make_model_dir

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=10)
PROMPTS = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], [7], list(range(20, 47))]


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model_dir(request, tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp(request.param), family=request.param)


@pytest.fixture(scope="module")
def hf_model(model_dir):
    return AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()


def reference(hf, prompt, n=10):
    with torch.no_grad():
        out = hf.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False, eos_token_id=None,
                          pad_token_id=0, attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    return out[0, len(prompt):].tolist()


def make_engine(model_dir, **kw):
    kw = {"num_blocks": 64, "block_size": 4, "max_batched_tokens": 16, **kw}
    return Engine(EngineConfig(model=str(model_dir), device="cpu", **kw))


def test_logits_equal_transformers_in_every_attention_path(model_dir, hf_model):
    engine = make_engine(model_dir)
    model, bs = engine.model, engine.block_size
    prompt = torch.tensor(PROMPTS[3])
    with torch.no_grad():
        ref = hf_model(prompt[None]).logits[0]                                    # (T, V)
    T = len(prompt)
    kv = PagedKVCache(model.spec.n_layer, 16, bs, model.spec.n_kv_head, model.spec.head_dim, torch.float32,
                      "cpu")
    blocks = torch.arange(1, 1 + -(-T // bs))
    slots = torch.stack([blocks[p // bs] * bs + p % bs for p in range(T)])
    # 1. a prefill segment from position 0 (plain causal attention), first 12 tokens
    batch = AttentionBatch(slots[:12], segments=[Segment(0, 12, 0)], block_size=bs)
    got = model.logits(model.forward(prompt[:12], torch.arange(12), batch, kv))
    torch.testing.assert_close(got, ref[:12], rtol=1e-4, atol=1e-4)
    # 2. a chunk that reads the first 12 positions back from the cache (chunked prefill / prefix hit)
    batch = AttentionBatch(slots[12:20], segments=[Segment(0, 8, 12, slots[:20])], block_size=bs)
    got = model.logits(model.forward(prompt[12:20], torch.arange(12, 20), batch, kv))
    torch.testing.assert_close(got, ref[12:20], rtol=1e-4, atol=1e-4)
    # 3. token rows through block tables (decode; the GPU's graph path), all remaining tokens at once
    rows = torch.arange(20, T)
    tables = blocks.repeat(len(rows), 1)
    batch = AttentionBatch(slots[20:], len(rows), tables, rows + 1, block_size=bs)
    got = model.logits(model.forward(prompt[20:], rows, batch, kv))
    torch.testing.assert_close(got, ref[20:], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rows_only", [False, True], ids=["eager", "graph-layout"])
def test_greedy_batch_equals_generate_token_for_token(model_dir, hf_model, rows_only):
    # graph-layout: every step small enough runs as the GPU's CUDA-graph layout (one row per token)
    engine = make_engine(model_dir, rows_only=rows_only, graph_max_rows=16)
    outs = engine.generate(PROMPTS, GREEDY, ignore_eos=True)
    for prompt, out in zip(PROMPTS, outs, strict=True):
        assert out.token_ids == reference(hf_model, prompt), prompt
        assert out.finish_reason == "length"
    # the 27-token prompt exceeded the 16-token step budget: it was prefilled in chunks
    stats = engine.stats()
    assert stats["steps"] > 10
    assert stats["graph_steps"] > 0 if rows_only else stats["graph_steps"] == 0
    assert engine.allocator.num_in_use == 0


def test_shared_prefix_reuses_blocks_and_gives_identical_output(model_dir, hf_model):
    engine = make_engine(model_dir)
    prefix = list(range(30, 46))                                # 4 full blocks of 4
    first, second = prefix + [1, 2], prefix + [3, 4, 5]
    [a] = engine.generate([first], GREEDY, ignore_eos=True)
    assert a.cached_tokens == 0
    [b] = engine.generate([second], GREEDY, ignore_eos=True)
    assert b.cached_tokens == 16
    assert engine.tables.hit_tokens == 16 and engine.tables.query_tokens == len(first) + len(second)
    assert b.token_ids == reference(hf_model, second)
    [c] = engine.generate([second], GREEDY, ignore_eos=True)     # the whole prompt but its last token
    assert c.cached_tokens == 16 and c.token_ids == b.token_ids
    cold = make_engine(model_dir, enable_prefix_caching=False).generate([second], GREEDY, ignore_eos=True)[0]
    assert cold.cached_tokens == 0 and cold.token_ids == b.token_ids


def test_eviction_and_preemption_under_memory_pressure_keep_outputs_correct(model_dir, hf_model):
    # 11 usable blocks of 4 tokens; 6 requests needing up to 10 blocks each: the cache must evict and preempt
    engine = make_engine(model_dir, num_blocks=12, max_batched_tokens=64)
    prompts = [[(7 * i + j) % 50 + 1 for j in range(10 + 3 * i)] for i in range(6)]
    outs = engine.generate(prompts, SamplingParams(temperature=0.0, max_new_tokens=12), ignore_eos=True)
    for prompt, out in zip(prompts, outs, strict=True):
        assert out.token_ids == reference(hf_model, prompt, 12)
    stats = engine.stats()
    assert stats["preemptions"] > 0 and stats["evictions"] > 0, stats
    engine.allocator.check()
    assert engine.allocator.num_in_use == 0


def test_seeded_sampling_does_not_depend_on_the_batch(model_dir):
    params = SamplingParams(temperature=0.9, top_k=20, top_p=0.9, seed=123, max_new_tokens=8)
    alone = make_engine(model_dir).generate([[5, 6, 7]], params, ignore_eos=True)[0].token_ids
    others = [SamplingParams(temperature=1.0, max_new_tokens=8), SamplingParams(temperature=0.0,
                                                                                max_new_tokens=8)]
    mixed = make_engine(model_dir).generate([[1, 2], [5, 6, 7], [9]], [others[0], params, others[1]],
                                            ignore_eos=True)
    assert mixed[1].token_ids == alone


def test_stop_strings_and_stop_tokens(model_dir):
    engine = make_engine(model_dir)
    params = SamplingParams(temperature=0.0, max_new_tokens=12)
    [full] = engine.generate(["The quick"], params, ignore_eos=True)
    assert len(full.text) == 12
    stop = full.text[5:7]
    [cut] = engine.generate(["The quick"], SamplingParams(temperature=0.0, max_new_tokens=12, stop=(stop,)))
    assert cut.finish_reason == "stop" and cut.text == full.text[:full.text.find(stop)]
    tok = full.token_ids[3]
    [by_id] = engine.generate(["The quick"], SamplingParams(temperature=0.0, max_new_tokens=12,
                                                            stop_token_ids=(tok,)))
    assert by_id.finish_reason == "stop" and by_id.token_ids == full.token_ids[:full.token_ids.index(tok) + 1]


def test_abort_frees_blocks(model_dir):
    engine = make_engine(model_dir)
    rid = engine.add_request(list(range(1, 20)), SamplingParams(temperature=0.0, max_new_tokens=30))
    for _ in range(4):
        engine.step()
    assert engine.allocator.num_in_use > 0
    out = engine.abort(rid)
    assert out.finished and out.finish_reason == "abort"
    assert engine.allocator.num_in_use == 0 and not engine.has_unfinished()
    engine.allocator.check()


def test_bad_requests_are_refused_with_clear_errors(model_dir):
    engine = make_engine(model_dir, max_model_len=40)
    with pytest.raises(ContextWindowError, match="context is 40 tokens, but 45 were asked for"):
        engine.add_request(list(range(1, 36)), SamplingParams(max_new_tokens=10))
    with pytest.raises(LabError, match="empty"):
        engine.add_request([], SamplingParams())
    with pytest.raises(LabError, match="token ids must lie"):
        engine.add_request([10**6], SamplingParams())
    assert not engine.has_unfinished()
