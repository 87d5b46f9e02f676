"""Structured output: every constrained answer of a random model parses and validates against its schema."""

import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("llguidance", reason="structured output needs llguidance (the serve extra)")

from llmlab.generation import SamplingParams  # noqa: E402
from llmlab.serve.config import EngineConfig  # noqa: E402
from llmlab.serve.engine import Engine  # noqa: E402
from llmlab.serve.random_model import make_model_dir  # noqa: E402
from llmlab.serve.structured import UnsupportedGrammarError  # noqa: E402


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    d = make_model_dir(tmp_path_factory.mktemp("structured"), n_layer=1, n_embd=32, tokenizer="bpe")
    return Engine(EngineConfig(model=str(d), device="cpu", num_blocks=1024, block_size=8, max_num_seqs=64))


# bounded leaves, so that a random model, which never chooses to stop, still reaches the end of its value
LEAVES = st.one_of(
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.tuples(st.integers(-50, 50), st.integers(0, 200)).map(
        lambda t: {"type": "integer", "minimum": t[0], "maximum": t[0] + t[1]}),
    st.integers(0, 6).map(lambda n: {"type": "string", "maxLength": n}),
    st.lists(st.text("abcxyz", min_size=1, max_size=4), min_size=1, max_size=3, unique=True).map(
        lambda v: {"enum": v}),
)
NAMES = st.text("abcdefgh", min_size=1, max_size=5)


def _objects(children):
    return st.dictionaries(NAMES, children, min_size=1, max_size=3).flatmap(
        lambda props: st.lists(st.sampled_from(sorted(props)), unique=True).map(
            lambda req: {"type": "object", "properties": props, "required": req,
                         "additionalProperties": False}))


SCHEMAS = st.recursive(LEAVES, lambda inner: st.one_of(
    _objects(inner),
    st.tuples(inner, st.integers(0, 2)).map(lambda t: {"type": "array", "items": t[0], "maxItems": t[1]}),
    st.lists(inner, min_size=2, max_size=2).map(lambda v: {"anyOf": v})), max_leaves=5)


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(schemas=st.lists(_objects(SCHEMAS), min_size=6, max_size=6), temperature=st.sampled_from([0.0, 1.0]))
def test_every_constrained_answer_validates(engine, schemas, temperature):
    params = SamplingParams(temperature=temperature, max_new_tokens=160, seed=3)
    ids = [engine.add_request("{", params, grammar=engine.grammars.json_schema(s)) for s in schemas]
    reqs = [engine.requests[i] for i in ids]
    while not all(r.finished for r in reqs):
        engine.step()
    for schema, r in zip(schemas, reqs, strict=True):
        assert r.finish_reason == "stop", (schema, r.text)      # the grammar ended it, not the budget
        jsonschema.validate(json.loads(r.text), schema)


def test_grammars_are_compiled_once_per_schema_and_refusals_name_the_keyword(engine):
    schema = {"type": "object", "properties": {"k": {"type": "integer"}}}
    before = engine.grammars.compiled
    assert engine.grammars.json_schema(schema) == engine.grammars.json_schema(json.loads(json.dumps(schema)))
    assert engine.grammars.compiled == before + 1
    with pytest.raises(UnsupportedGrammarError, match="uniqueItems"):
        engine.grammars.json_schema({"type": "array", "uniqueItems": True})


def test_unconstrained_rows_of_a_mixed_batch_are_untouched(engine):
    free = SamplingParams(temperature=0.0, max_new_tokens=12)
    [alone] = engine.generate(["the quick"], free)
    rid = engine.add_request("the quick", free)
    engine.add_request("{", free, grammar=engine.grammars.json_schema({"type": "object"}))
    req = engine.requests[rid]
    while not req.finished:
        engine.step()
    assert req.text == alone.text


def test_a_tokenizer_llguidance_cannot_read_is_spelled_token_by_token(tmp_path):
    """llmlab's CharTokenizer (a decoder llguidance does not know): the fallback spells each id."""
    import torch

    from llmlab.hub import load_hf_tokenizer
    from llmlab.serve.random_model import SAMPLE_TEXT
    from llmlab.serve.structured import GrammarCompiler, new_mask
    from llmlab.tokenizer.char import CharTokenizer

    CharTokenizer.train(SAMPLE_TEXT).save(tmp_path)
    tok = load_hf_tokenizer(str(tmp_path))
    tok.add_special_tokens({"eos_token": "<eos>"})
    grammars = GrammarCompiler(tok, len(tok))
    schema = {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"],
              "additionalProperties": False}
    c = grammars.constraint(grammars.json_schema(schema))
    out = []
    while not c.done and len(out) < 40:        # always the highest allowed id: a deterministic walk
        mask = new_mask(1, len(tok))
        c.fill(mask, 0)
        allowed = ((mask[0].unsqueeze(-1) >> torch.arange(32)) & 1).flatten()[:len(tok)].nonzero()
        out.append(int(allowed[-1]))
        c.advance(out[-1])
    jsonschema.validate(json.loads(tok.decode(out)), schema)
