"""Persistent memory: sessions saved and resumed by name, atomic files, facts that survive trimming, BM25
recall (llmlab.rag's, with stopwords left out) of turns that fell out of the window, and the ChatBot that ties
them to an LLM."""

import json

import pytest

from llmlab.chat.bot import ChatBot
from llmlab.chat.memory import ChatStore
from llmlab.chat.recall import recall
from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.llm.base import Delta
from llmlab.search.bm25 import topic_terms as terms
from word_llm import WordLLM


class EchoLLM(WordLLM):
    """Answers "heard: <newest user message>"."""

    name = "echo"

    def __init__(self, window: int = 1000):
        super().__init__(window, answer=lambda prompt: ["heard:"] + prompt.rsplit("user: ",
                                                                                  1)[1].split("\n")[0].split())


def test_session_round_trip_and_list(runs_dir):
    store = ChatStore()
    assert store.root == runs_dir / "chat" and store.list() == []
    s = store.open("notes", model="echo", system="be kind")
    s.add("user", "hello")
    s.add("assistant", "hi there", prompt_tokens=5)
    s.remember("the user's name is Ada")
    s.remember("the user's name is Ada")                      # a fact is kept once
    again = ChatStore().open("notes")
    assert again.history() == [{"role": "user", "content": "hello"}, {"role": "assistant",
                                                                      "content": "hi there"}]
    assert again.facts == ["the user's name is Ada"] and again.meta["system"] == "be kind"
    assert again.messages[1]["prompt_tokens"] == 5
    lines = (runs_dir / "chat" / "notes" / "messages.jsonl").read_text().splitlines()
    assert [json.loads(x)["role"] for x in lines] == ["user", "assistant"]
    store.open("other")
    listed = store.list()
    assert {row["name"] for row in listed} == {"notes", "other"}
    assert next(r for r in listed if r["name"] == "notes")["turns"] == 1
    assert not list((runs_dir / "chat" / "notes").glob("*.tmp"))      # temporary files were renamed away


def test_clear_keeps_facts_and_forget(runs_dir):
    s = ChatStore().open("a")
    s.add("user", "x")
    s.remember("fact one")
    s.clear()
    again = ChatStore().open("a")
    assert again.messages == [] and again.facts == ["fact one"]
    assert again.forget(0) == "fact one" and ChatStore().open("a").facts == []
    with pytest.raises(LabError):
        again.forget(3)


def test_bad_names_and_corrupt_files(runs_dir):
    with pytest.raises(LabError, match="session name"):
        ChatStore().open("../escape")
    s = ChatStore().open("b")
    s.add("user", "x")
    (s.path / "messages.jsonl").write_text('{"role": "user", "content": "x"}\n{"role": broken\n')
    with pytest.raises(LabError, match="line 2 is not JSON"):
        ChatStore().open("b")
    (s.path / "messages.jsonl").write_text('{"role": "user", "content": "x"}\n')
    ChatStore().open("a").add("user", "y")
    (s.path / "session.json").write_text("{broken")
    with pytest.raises(LabError, match="session.json is not JSON"):
        ChatStore().open("b")
    # one unreadable session is listed with its error; the others are still listed
    listed = ChatStore().list()
    assert [r["name"] for r in listed] == ["a", "b"] and listed[0]["messages"] == 1
    assert "session.json is not JSON" in listed[1]["error"] and "delete it" in listed[1]["error"]


def test_recall_ranks_by_bm25_without_stopwords():
    from rank_bm25 import BM25Okapi  # the reference library, not llmlab's own BM25

    docs = ["the cat sat on the mat", "dogs bark at cats", "my name is Ada and I like cats",
            "python is a language",
            "cat cat cat dog", "tea with milk and honey, the cat again"]
    query = "Ada likes tea and cats"
    scores = BM25Okapi([terms(d) for d in docs]).get_scores(terms(query))
    best = sorted((i for i in range(len(docs)) if scores[i] > 0), key=lambda i: -scores[i])[:2]
    assert recall(docs, query, k=2) == best == [2, 5]
    # stopwords match nothing: "what is my name" shares only "name" with the turns
    assert recall(docs, "what is my name?") == [2]
    assert recall(docs, "what is it") == [] and recall([], "cat") == []


def test_bot_saves_turns_and_streams(runs_dir):
    llm = EchoLLM()
    bot = ChatBot(llm, ChatStore().open("s1"), system="be brief")
    pieces = list(bot.reply_stream("good morning", SamplingParams(max_new_tokens=10)))
    assert "".join(pieces) == "heard: good morning "
    resumed = ChatStore().open("s1")
    assert resumed.history()[-1] == {"role": "assistant", "content": "heard: good morning "}
    assert resumed.meta["model"] == "echo" and resumed.meta["system"] == "be brief"
    # a resumed bot sends the earlier turn with the next one
    bot2 = ChatBot(llm, resumed)
    bot2.reply("and now?", SamplingParams(max_new_tokens=10))
    assert "user: good morning\nassistant: heard: good morning" in llm.prompts[-1]
    assert bot2.meter()["window"] == 1000 and bot2.meter()["used"] == bot2.last_plan.prompt_tokens + 3


def test_stopped_stream_keeps_what_was_said(runs_dir):
    bot = ChatBot(EchoLLM(), ChatStore().open("s2"))
    stream = bot.reply_stream("one two three four", SamplingParams(max_new_tokens=10))
    next(stream), next(stream)
    stream.close()
    assert bot.session.history()[-1] == {"role": "assistant", "content": "heard: one "}


def test_trimmed_turn_comes_back_by_recall_and_facts_survive(runs_dir):
    llm = EchoLLM(window=60)
    session = ChatStore().open("long")
    session.remember("the user is called Ada")
    bot = ChatBot(llm, session, system="sys")
    params = SamplingParams(max_new_tokens=8)
    bot.reply("my favourite colour is teal", params)
    for i in range(6):
        bot.reply(f"filler message number {i} about nothing", params)
    assert bot.last_plan.dropped                       # the window forced trimming
    bot.reply("which colour did I say?", params)
    prompt = llm.prompts[-1]
    assert "- the user is called Ada" in prompt                      # facts are always in
    assert "earlier, user said: my favourite colour is teal" in prompt
    assert "user: my favourite colour is teal" not in prompt        # ... as a note, not as a turn
    assert bot.last_plan.prompt_tokens <= 60 - 8
    assert "dropped the oldest" in bot.last_plan.report() and "old messages" in bot.meter_text()


class SummaryLLM(EchoLLM):
    """Answers a summary request with a short "S<k>" and keeps the message lines it was given to summarise."""

    def __init__(self, window):
        super().__init__(window)
        self.fed: list[list[str]] = []

    def _generate(self, prompt, params):
        if prompt.startswith("system: Summarise"):
            body = prompt.split("New messages:\n", 1)[1].rsplit("\nassistant:", 1)[0]
            self.fed.append(body.splitlines())
            text = f"S{len(self.fed)}"
            yield Delta(text, "stop", self.count_tokens(prompt), 1)
            return
        yield from super()._generate(prompt, params)


def test_running_summary_written_by_the_model(runs_dir):
    from llmlab.chat.bot import SUMMARY_NOTE

    llm = SummaryLLM(window=90)
    bot = ChatBot(llm, ChatStore().open("sum"), system="sys", summarize=True, recall_k=0)
    params = SamplingParams(max_new_tokens=6)
    for i in range(10):
        bot.reply(f"message number {i} about topic {i}", params)
    meta = ChatStore().open("sum").meta
    assert len(llm.fed) >= 2 and meta["summary"] == f"S{len(llm.fed)}"
    # every message dropped so far was given to the model once, in order, and the running summary rode along
    history = ChatStore().open("sum").history()
    fed = [line for request in llm.fed for line in request]
    assert fed == [f"{m['role']}: {m['content']}" for m in history[: meta["summarized"]]]
    assert meta["summarized"] <= len(bot.last_plan.dropped)
    assert f"- {SUMMARY_NOTE}S{len(llm.fed)}" in llm.prompts[-1] and bot.last_plan.prompt_tokens <= 90 - 6
    # nothing newly dropped: no new request
    assert (
        bot.update_summary(bot.last_plan.dropped[: meta["summarized"]]) is False
        and len(fed) == meta["summarized"]
    )
    bot.session.clear()
    assert "summary" not in ChatStore().open("sum").meta


def test_threads_saving_one_session_never_fail_nor_lose_a_message(runs_dir):
    import threading

    session = ChatStore().open("busy")
    second = ChatStore().open("busy")          # another object on the same folder (a second tab, the REPL)
    errors = []

    def worker(i):
        for j in range(25):
            try:
                session.add("user", f"message {i}-{j}")
                if j % 5 == 0:
                    session.remember(f"fact {i}-{j}")
                    second.save()
            except Exception as exc:           # the old pid-named temp file: FileNotFoundError on the rename
                errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    session.save()                             # the last word: every message of the shared object is on disk
    again = ChatStore().open("busy")
    assert sorted(m["content"] for m in again.messages) == sorted(f"message {i}-{j}" for i in range(12)
                                                                  for j in range(25))
    assert len(again.facts) == 12 * 5
    assert sorted(p.name for p in (runs_dir / "chat" / "busy").iterdir()) == [
        "facts.jsonl", "messages.jsonl", "session.json"]                  # no temporary file left behind
