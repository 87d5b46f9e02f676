"""llmlab.generation.stopping, the one finish rule (stop tokens, stop strings, the budget), the EOS set, and
context_length: each rule on hand cases whose answer is known."""

from types import SimpleNamespace

import pytest

from llmlab.generation import SamplingParams, StopChecker, context_length, eos_token_ids


def feed(checker: StopChecker, tokens, pieces):
    """Tokens through the checker until it ends; the text it let out on the way, piece by piece."""
    shown = []
    for tok in tokens:
        if checker.add(tok):
            break
        shown.append(checker.new_text())
    shown.append(checker.new_text(final=True))
    return shown


def test_the_eos_set_is_the_union_of_every_source():
    tok, cfg = SimpleNamespace(eos_token_id=2), SimpleNamespace(eos_token_id=[7, 2])
    assert eos_token_ids(tok, cfg) == {2, 7}
    assert eos_token_ids(SimpleNamespace(eos_token_id=None), cfg) == {2, 7}
    assert eos_token_ids(None, SimpleNamespace()) == frozenset()


def test_a_stop_token_ends_it_counted_but_not_shown():
    pieces = {1: "a", 2: "b", 9: "<eos>"}
    checker = StopChecker(SamplingParams(max_new_tokens=10), eos_ids={9}, piece=pieces.get)
    assert "".join(feed(checker, [1, 2, 9, 1], pieces)) == "ab"
    assert checker.finish_reason == "stop" and checker.count == 3 and not checker.cut


def test_a_stop_string_split_across_tokens_cuts_and_is_never_shown():
    pieces = {1: "xy", 2: "E", 3: "ND", 4: "z"}
    checker = StopChecker(SamplingParams(max_new_tokens=10, stop=("END",)), piece=pieces.get)
    shown = feed(checker, [1, 2, 3, 4], pieces)
    assert "".join(shown) == "xy" and all("E" not in s for s in shown)    # "E" was held back, then cut
    assert checker.finish_reason == "stop" and checker.cut and checker.count == 3


def test_the_budget_ends_with_length_after_flushing_and_a_flushed_stop_still_cuts():
    pieces = {1: "ab", 2: "c"}
    plain = StopChecker(SamplingParams(max_new_tokens=2), piece=pieces.get, flush=lambda: "!")
    assert "".join(feed(plain, [1, 2, 1], pieces)) == "abc!" and plain.finish_reason == "length"
    flushed = StopChecker(SamplingParams(max_new_tokens=2, stop=("c!",)), piece=pieces.get, flush=lambda: "!")
    assert "".join(feed(flushed, [1, 2], pieces)) == "ab" and flushed.finish_reason == "stop"
    short = StopChecker(SamplingParams(max_new_tokens=5), piece=pieces.get, limit=1)    # the context's room
    assert feed(short, [1, 2], pieces)[-1] == "ab" and short.count == 1 and short.finish_reason == "length"


def test_context_length_reads_the_config_then_a_stated_tokenizer_limit():
    assert context_length(SimpleNamespace(n_positions=64, max_position_embeddings=128)) == 64
    assert context_length(SimpleNamespace(max_position_embeddings=128)) == 128
    assert context_length(SimpleNamespace(), SimpleNamespace(model_max_length=512)) == 512
    assert context_length(SimpleNamespace(), SimpleNamespace(model_max_length=int(1e30))) is None   # unstated
    assert context_length(SimpleNamespace()) is None


@pytest.mark.parametrize("reason", ["stop", "length"])
def test_every_finish_reason_is_openais_word(reason):
    from llmlab.generation import FINISH_REASONS

    assert reason in FINISH_REASONS and "stop_token" not in FINISH_REASONS
