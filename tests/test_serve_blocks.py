"""Block allocator and prefix cache: invariants under random request streams, hash chain, LRU eviction;
the incremental detokeniser against a full decode."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmlab.generation import SamplingParams
from llmlab.serve.block_allocator import BlockAllocator, NoFreeBlocks, prefix_hash
from llmlab.serve.config import EngineConfig
from llmlab.serve.engine import Engine
from llmlab.serve.random_model import SAMPLE_TEXT, byte_bpe_tokenizer, make_model_dir
from llmlab.tokenizer.char import CharTokenizer
from llmlab.tokenizer.detokenizer import ByteLevelDetokenizer, IncrementalDetokenizer, byte_table


def test_hash_chain_names_a_block_by_its_whole_prefix():
    a = prefix_hash(b"", [1, 2, 3, 4])
    assert a == prefix_hash(b"", [1, 2, 3, 4]) and a != prefix_hash(b"", [1, 2, 3, 5])
    assert prefix_hash(a, [9, 9]) != prefix_hash(prefix_hash(b"", [1, 2, 3, 5]), [9, 9])


def test_lru_eviction_takes_the_least_recently_released_cached_block():
    alloc = BlockAllocator(4)                      # 3 usable blocks (block 0 is the null block)
    blocks = [alloc.allocate() for _ in range(3)]
    with pytest.raises(NoFreeBlocks):
        alloc.allocate()
    for i, b in enumerate(blocks):
        alloc.register(b, bytes([i]))
    for b in (blocks[1], blocks[0], blocks[2]):  # released in this order: blocks[1] is the oldest
        alloc.release(b)
    assert alloc.num_free == 3 and alloc.cached(bytes([0])) == blocks[0]
    alloc.take(blocks[0])                          # a prefix hit revives it
    assert alloc.allocate() == blocks[1] and alloc.cached(bytes([1])) is None and alloc.evictions == 1
    alloc.check()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("tiny"), family="gpt2", n_layer=1, n_embd=32)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_allocator_never_leaks_over_random_request_streams(tiny_dir, data):
    engine = Engine(EngineConfig(model=str(tiny_dir), device="cpu", block_size=2,
                                 num_blocks=data.draw(st.integers(8, 24), label="blocks"),
                                 max_batched_tokens=data.draw(st.integers(2, 12), label="budget"),
                                 max_num_seqs=data.draw(st.integers(1, 6), label="seqs")))
    alloc = engine.allocator
    live = []
    for _ in range(data.draw(st.integers(1, 25), label="events")):
        action = data.draw(st.sampled_from(["add", "add", "step", "step", "step", "abort"]))
        if action == "add":
            # few distinct tokens and a shared start, so prefixes collide and the cache is exercised
            prompt = [1, 2] + data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=8))
            n = data.draw(st.integers(1, 5))
            try:
                live.append(engine.add_request(prompt, SamplingParams(temperature=0.0, max_new_tokens=n)))
            except Exception as exc:        # a request larger than the whole cache is refused, not queued
                assert "KV cache holds" in str(exc)
        elif action == "abort" and live:
            engine.abort(live.pop(data.draw(st.integers(0, len(live) - 1))))
        else:
            engine.step()
        alloc.check()
        # every reference is held by exactly one block-table entry of a live request
        held = [b for r in engine.scheduler.running + list(engine.scheduler.waiting) for b in r.block_ids]
        assert sorted(held) == sorted(b for b in range(alloc.num_blocks) for _ in range(alloc.refs[b]))
    for _ in range(10_000):               # bounded: an engine that stops making progress fails, not hangs
        if not engine.has_unfinished():
            break
        engine.step()
        alloc.check()
    assert not engine.has_unfinished(), "the engine stopped making progress"
    assert alloc.num_in_use == 0 and alloc.num_free == alloc.usable


def _detokenizers(tok, prompt):
    table = byte_table(tok)
    assert table is not None, "a byte-level BPE gets the byte-table fast path"
    return {"windowed": IncrementalDetokenizer(tok, prompt), "byte-table": ByteLevelDetokenizer(table)}


@pytest.mark.parametrize("kind", ["windowed", "byte-table"])
def test_incremental_detokenizer_is_exact_across_multibyte_characters(kind):
    tok = byte_bpe_tokenizer(SAMPLE_TEXT * 3, vocab_size=280)
    target = " héllo wörld — 日本語 😀 naïve café 😀😀 <|endoftext|>"
    ids = tok.encode(target)
    pieces_split = sum(1 for t in ids if "\ufffd" in tok.decode([t]))
    assert pieces_split > 0, "the test needs characters that span several tokens"
    detok = _detokenizers(tok, tok.encode("prompt: "))[kind]
    pieces = [detok.step(t) for t in ids] + [detok.flush()]
    assert "".join(pieces) == tok.decode(ids, skip_special_tokens=True) == target.replace("<|endoftext|>", "")
    assert not any("\ufffd" in p for p in pieces)


@pytest.mark.parametrize("kind", ["windowed", "byte-table"])
def test_incremental_detokenizer_flushes_an_incomplete_character(kind):
    tok = byte_bpe_tokenizer(SAMPLE_TEXT, vocab_size=260)
    ids = tok.encode("a😀")[:-1]                     # cut inside the emoji's bytes
    detok = _detokenizers(tok, [])[kind]
    streamed = "".join(detok.step(t) for t in ids)
    assert streamed == "a" and detok.flush() == tok.decode(ids)[1:]


def test_char_tokenizers_take_the_windowed_path():
    assert byte_table(CharTokenizer.train("abc").to_hf()) is None
