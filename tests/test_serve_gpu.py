"""The engine on a CUDA GPU: CUDA-graph decode gives the same tokens as transformers and as eager mode."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from llmlab.generation import SamplingParams
from llmlab.serve.config import EngineConfig
from llmlab.serve.engine import Engine
from llmlab.serve.random_model import make_model_dir

pytestmark = pytest.mark.gpu
PROMPTS = [[1, 2, 3], list(range(4, 40)), [7], list(range(20, 47)) * 2]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_cuda_graph_greedy_equals_transformers(tmp_path, family):
    model_dir = make_model_dir(tmp_path, family=family)
    engine = Engine(EngineConfig(model=str(model_dir), device="cuda", dtype="float32", block_size=16,
                                 max_batched_tokens=64))
    hf = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).cuda().eval()
    outs = engine.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=12), ignore_eos=True)
    for p, o in zip(PROMPTS, outs, strict=True):
        ref = hf.generate(torch.tensor([p], device="cuda"), max_new_tokens=12, do_sample=False,
                          eos_token_id=None,
                          pad_token_id=0)[0, len(p):].tolist()
        assert o.token_ids == ref
    # the same prompts again: prefix hits, and the cached suffix runs as a graph too
    again = engine.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=12), ignore_eos=True)
    assert [a.token_ids for a in again] == [o.token_ids for o in outs]
    assert engine.stats()["graph_steps"] > 0 and engine.tables.hit_tokens > 0


def test_bf16_graphs_match_bf16_eager(tmp_path):
    model_dir = make_model_dir(tmp_path, family="gpt2", n_layer=4, n_embd=128)
    params = SamplingParams(temperature=0.0, max_new_tokens=24)
    runs = []
    for graphs in (True, False):
        engine = Engine(EngineConfig(model=str(model_dir), device="cuda", dtype="bfloat16",
                                     cuda_graphs=graphs))
        runs.append([o.token_ids for o in engine.generate(PROMPTS, params, ignore_eos=True)])
        assert (engine.stats()["graph_steps"] > 0) == graphs
    assert runs[0] == runs[1]


def test_triton_rows_kernel_passes_its_self_check():
    from llmlab.serve.triton_attention import load_kernel

    for heads, kv_heads, head_dim, dtype in [(12, 12, 64, torch.bfloat16), (8, 2, 32, torch.float32)]:
        kernel = load_kernel(torch.device("cuda"), heads, kv_heads, head_dim, 16, dtype)
        assert kernel is not None, load_kernel.why


def test_triton_kernel_for_short_cached_chunks_gives_the_same_tokens(tmp_path):
    """triton_max_chunk=16: the cached suffixes (and short prompts) attend through the Triton kernel inside
    the graph instead of the torch gather; greedy tokens must not change, prefix hits included."""
    model_dir = make_model_dir(tmp_path, family="llama", n_layer=2, n_embd=64)
    params = SamplingParams(temperature=0.0, max_new_tokens=12)
    runs = []
    for chunk in (1, 16):
        engine = Engine(EngineConfig(model=str(model_dir), device="cuda", dtype="float32", block_size=16,
                                     max_batched_tokens=64, triton_max_chunk=chunk))
        first = [o.token_ids for o in engine.generate(PROMPTS, params, ignore_eos=True)]
        again = [o.token_ids for o in engine.generate(PROMPTS, params, ignore_eos=True)]
        assert first == again and engine.tables.hit_tokens > 0
        runs.append(first)
    assert runs[0] == runs[1]
