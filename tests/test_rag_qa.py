"""Generation with context: prompt structure, the token budget, citation parsing, map-reduce summaries,
and one round through a real llmlab.llm backend (a tiny random model: mechanics only, not answer quality)."""

import re

import pytest

from llmlab.llm import LLM, ContextWindowError, Delta, load_llm
from llmlab.rag.chunking import Chunk
from llmlab.rag.index import Hit
from llmlab.rag.prompts import QA_SYSTEM, fit_sources, parse_citations, qa_messages
from llmlab.rag.qa import answer, default_params, summarize


class ScriptedLLM(LLM):
    """Counts a token per word; answers with a fixed text; remembers every prompt it was given."""

    name = "scripted"

    def __init__(self, window=400, reply="Use break [1]. See also [2][9]."):
        self.window, self.reply, self.prompts = window, reply, []

    @property
    def context_window(self):
        return self.window

    def count_tokens(self, text):
        return len(text.split())

    def _generate(self, prompt, params):
        self.prompts.append(prompt)
        yield Delta(self.reply, "stop", self.count_tokens(prompt), self.count_tokens(self.reply))


def _chunk(i, words=30):
    return Chunk(f"doc{i}:0-{words}", f"doc{i}", 0, words, " ".join(f"w{i}" for _ in range(words)), words)


def _hits(n, words=30):
    return [Hit(_chunk(i, words), 1.0 - i / 10, i + 1, "dense") for i in range(n)]


def test_prompt_numbers_sources_in_rank_order_and_asks_for_citations():
    llm = ScriptedLLM(window=10_000)
    result = answer(llm, None, "How do I stop a loop?", hits=_hits(3), params=default_params(50))
    prompt = llm.prompts[0]
    assert QA_SYSTEM in prompt and "Question: How do I stop a loop?" in prompt
    positions = [prompt.index(f"[{i}] doc{i - 1} (chars 0-30)") for i in (1, 2, 3)]
    assert positions == sorted(positions)
    assert result.dropped == 0 and len(result.sources) == 3
    assert result.citations.cited == [1, 2] and result.citations.invalid == [9] and not result.citations.ok


def test_budget_drops_the_lowest_ranked_sources_first():
    llm = ScriptedLLM(window=200)
    hits = _hits(6)
    plan = fit_sources(llm, lambda cs: qa_messages("q?", cs), hits, max_new_tokens=50)
    assert plan.prompt_tokens <= plan.budget == 150
    assert plan.used == hits[:len(plan.used)] and plan.dropped == hits[len(plan.used):]
    assert 0 < len(plan.used) < 6
    # one more source would not have fitted: the plan keeps as many as fit, no fewer
    bigger = qa_messages("q?", [h.chunk for h in hits[:len(plan.used) + 1]])
    assert llm.count_chat_tokens(bigger) > plan.budget
    result = answer(llm, None, "q?", hits=hits, params=default_params(50))
    assert result.dropped == len(plan.dropped) and result.prompt_tokens + 50 <= 200


def test_no_room_even_without_sources_names_both_numbers():
    with pytest.raises(ContextWindowError, match="context window is 30"):
        fit_sources(ScriptedLLM(window=30), lambda cs: qa_messages("q?", cs), _hits(2), max_new_tokens=20)


@pytest.mark.parametrize("text,n,cited,invalid", [
    ("A [1] and B [2, 3].", 3, [1, 2, 3], []),
    ("See [2][1] then [2] again.", 2, [2, 1], []),
    ("Range [1-3] and [7].", 4, [1, 2, 3], [7]),
    ("No citations, a list [x] and a date [2024-01].", 5, [], []),
    ("Zero [0] is not a source.", 3, [], [0]),
])
def test_parse_citations(text, n, cited, invalid):
    c = parse_citations(text, n)
    assert (c.cited, c.invalid) == (cited, invalid)


def test_summarize_stuffs_when_everything_fits():
    llm = ScriptedLLM(window=10_000, reply="short [1]")
    s = summarize(llm, [h.chunk for h in _hits(4)], default_params(20))
    assert s.strategy == "stuff" and s.calls == 1 and s.rounds == [1] and s.citations.cited == [1]


def test_summarize_map_reduce_reads_every_chunk_once_with_global_numbers():
    llm = ScriptedLLM(window=160, reply="partial summary [1]")
    chunks = [h.chunk for h in _hits(10, words=40)]
    s = summarize(llm, chunks, default_params(20))
    assert s.strategy == "map-reduce" and s.rounds[0] > 1 and s.rounds[-1] == 1
    map_prompts = llm.prompts[:s.rounds[0]]
    seen = [int(n) for p in map_prompts for n in re.findall(r"^\[(\d+)\] doc", p, flags=re.M)]
    assert seen == list(range(1, 11))                     # every chunk once, numbered globally, in order
    assert all(llm.count_tokens(p) + 20 <= 160 for p in llm.prompts)
    assert s.calls == len(llm.prompts) == sum(s.rounds[:1]) + sum(s.rounds[1:])


@pytest.fixture(scope="module")
def engine_llm(tmp_path_factory):
    from llmlab.serve.random_model import make_model_dir

    d = make_model_dir(tmp_path_factory.mktemp("rag-llm"), family="gpt2", n_layer=2, n_embd=32,
                       tokenizer="bpe",
                       n_positions=1024)
    return load_llm(f"engine:{d}", device="cpu", num_blocks=256, block_size=8)


def test_one_round_through_the_engine_backend(engine_llm):
    hits = [Hit(Chunk(f"d{i}:0-400", f"d{i}", 0, 400, f"Loop {i}: the break statement ends it. " * 4, 30),
                1.0, i + 1,
                "dense") for i in range(6)]
    result = answer(engine_llm, None, "How do I leave a loop?", hits=hits, params=default_params(32))
    assert result.prompt_tokens + 32 <= engine_llm.context_window
    assert 0 < len(result.sources) < 6 and result.dropped == 6 - len(result.sources)
    assert result.completion_tokens > 0 and result.finish_reason in ("stop", "length")
    # whatever the random text holds
    assert set(result.citations.cited) <= set(range(1, len(result.sources) + 1))


def test_repeated_chunk_texts_are_given_once():
    llm = ScriptedLLM(window=10_000)
    hits = _hits(3)
    twin = Hit(Chunk("copy:0-30", "copy", 0, 30, "  " + hits[0].chunk.text.replace(" ", "\n"), 30), 0.5, 4,
               "dense")
    result = answer(llm, None, "q?", hits=[hits[0], twin, hits[1]], params=default_params(10))
    assert [h.chunk.doc for h in result.sources] == ["doc0", "doc1"] and result.repeats == 1
    assert "copy (chars" not in llm.prompts[0]
