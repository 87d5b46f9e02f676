"""Long-term memory: facts kept on disk across instances, keys that replace, BM25 recall that ignores stop
words and ranks like rank_bm25, and the named folders under runs/agents/."""

import pytest

from llmlab.agents.memory import LongTermMemory
from llmlab.errors import LabError


def test_facts_survive_a_new_instance_and_keys_replace(tmp_path):
    memory = LongTermMemory(tmp_path)
    memory.add("The user's name is Ada", key="name")
    memory.add("The locker code is 4821")
    memory.add("The locker code is 4821")                        # the same text is kept once
    reopened = LongTermMemory(tmp_path)
    assert [f.text for f in reopened.facts()] == ["The user's name is Ada", "The locker code is 4821"]
    reopened.add("The user's name is Grace", key="name")
    assert [f.text for f in LongTermMemory(tmp_path).facts()] == ["The locker code is 4821",
                                                                   "The user's name is Grace"]
    assert LongTermMemory(tmp_path).forget("name") == 1
    assert [f.key for f in LongTermMemory(tmp_path).facts()] == [None]


def test_search_ranks_by_bm25_and_skips_stop_words(tmp_path):
    from rank_bm25 import BM25Okapi

    from llmlab.agents.memory import terms

    memory = LongTermMemory(tmp_path)
    texts = ["The locker code is 4821", "Ada likes green tea", "The meeting moved to Friday",
             "Tea time is at five", "Green is the colour of the locker"]
    for t in texts:
        memory.add(t)
    query = "what is the code of my locker?"
    found = [f.text for f in memory.search(query, k=5)]
    reference = BM25Okapi([terms(t) for t in texts]).get_scores(terms(query))
    expected = [texts[i] for i in sorted(range(len(texts)), key=lambda i: -reference[i])
                if set(terms(query)) & set(terms(texts[i]))]
    assert found == expected and found[0] == "The locker code is 4821"
    assert memory.search("what is it?", k=3) == []                # only stop words: nothing is relevant
    assert [f.text for f in memory.search("tea", k=1)] == ["Tea time is at five"]


def test_named_memories_live_under_runs_agents(runs_dir):
    memory = LongTermMemory.open("ada")
    memory.add("fact")
    assert (runs_dir / "agents" / "ada" / "memory.jsonl").exists()
    for bad in ("../escape", "ada\n", "/abs"):
        with pytest.raises(LabError, match="not a usable memory name"):
            LongTermMemory.open(bad)
    # forgetting in a memory that does not exist (a typo) removes nothing and creates nothing
    assert LongTermMemory.open("typo").forget("fact") == 0
    assert not (runs_dir / "agents" / "typo").exists()


def test_a_damaged_file_is_named(tmp_path):
    (tmp_path / "memory.jsonl").write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(LabError, match="line 2 is not a memory fact"):
        LongTermMemory(tmp_path).facts()


def test_a_fact_holding_the_whole_question_comes_first(tmp_path):
    memory = LongTermMemory(tmp_path)
    memory.add("9-6 -> 3")
    memory.add("6+9 -> 15")            # the same words, newer: BM25 alone ranks it first
    assert [f.text for f in memory.search("6+9", k=2)] == ["6+9 -> 15", "9-6 -> 3"]
    assert [f.text for f in memory.search("9-6", k=1)] == ["9-6 -> 3"]


def test_threads_adding_facts_to_one_memory_keep_every_fact(tmp_path):
    import threading

    errors = []

    def worker(i):
        memory = LongTermMemory(tmp_path / "shared")         # each thread its own object, one folder
        for j in range(20):
            try:
                memory.add(f"fact number {i}-{j}")
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    facts = LongTermMemory(tmp_path / "shared").facts()
    assert sorted(f.text for f in facts) == sorted(
        f"fact number {i}-{j}" for i in range(8) for j in range(20)
    )
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["memory.jsonl"]
