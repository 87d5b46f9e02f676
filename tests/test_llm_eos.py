"""engine: and hf: stop at the same token when a model's tokenizer and config disagree on EOS: both take the
union (llmlab.generation.eos_token_ids) and the one stop rule (StopChecker)."""

import json

import pytest

from llmlab.generation import SamplingParams
from llmlab.llm import load_llm
from llmlab.serve.config import EngineConfig
from llmlab.serve.engine import Engine
from llmlab.serve.random_model import make_model_dir

PROMPT = "The quick brown"


@pytest.fixture(scope="module")
def disagreeing_dir(tmp_path_factory):
    """A model whose config names as EOS a token its greedy answer reaches at step k (the tokenizer's EOS is
    <|endoftext|>): (dir, the greedy ids, k)."""
    out = make_model_dir(tmp_path_factory.mktemp("eos"), family="gpt2", n_layer=2, n_embd=32, tokenizer="bpe")
    engine = Engine(EngineConfig(model=str(out), device="cpu", num_blocks=64, block_size=4))
    [free] = engine.generate([PROMPT], SamplingParams(temperature=0.0, max_new_tokens=12), ignore_eos=True)
    ids, tok_eos = free.token_ids, engine.tokenizer.eos_token_id
    k = next(i for i in range(2, len(ids)) if ids[i] not in ids[:i] and ids[i] != tok_eos)
    cfg = json.loads((out / "config.json").read_text())
    cfg["eos_token_id"] = ids[k]
    (out / "config.json").write_text(json.dumps(cfg))
    return out, ids, k


def test_engine_and_hf_stop_at_the_same_token(disagreeing_dir):
    out, ids, k = disagreeing_dir
    params = SamplingParams(temperature=0.0, max_new_tokens=12)
    answers = []
    for spec in (f"engine:{out}", f"hf:{out}"):
        with load_llm(spec, device="cpu") as llm:
            done = llm.complete(PROMPT, params)
            assert done.finish_reason == "stop", spec
            assert done.completion_tokens == k + 1, spec       # the EOS counts as generated
            assert done.text == llm.tokenizer.decode(ids[:k]), spec   # and is not shown
            answers.append(done)
    assert answers[0] == answers[1]
