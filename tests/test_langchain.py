"""LangChain adapters: an llmlab.llm model as a chat model (invoke, stream, batch, async, stop, in a chain)
answers exactly what the lab model answers through llmlab.llm, and an llmlab.rag index as a retriever
returns the index's own hits. A tiny random GPT-2 and a keyword-only index made here; nothing downloads."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("langchain_core", reason="the langchain extra: pip install 'llmlab[langchain]'")

from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402

from llmlab.data import Corpus, Document  # noqa: E402
from llmlab.errors import LabError  # noqa: E402
from llmlab.generation import SamplingParams  # noqa: E402
from llmlab.llm import load_llm  # noqa: E402
from llmlab.llm.langchain_chat import LabChatModel  # noqa: E402

MESSAGES = [SystemMessage("Answer briefly."), HumanMessage("What does break do in a loop?")]
AS_LAB = [{"role": "system", "content": "Answer briefly."},
          {"role": "user", "content": "What does break do in a loop?"}]
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=12)


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    from llmlab.serve.random_model import make_model_dir

    folder = make_model_dir(tmp_path_factory.mktemp("lc-gpt2"), family="gpt2", n_layer=2, n_embd=32,
                            tokenizer="bpe")
    return load_llm(f"hf:{folder}")


@pytest.fixture(scope="module")
def reference(llm):
    done = llm.chat(AS_LAB, GREEDY)
    assert len(done.text) >= 4 and done.completion_tokens >= 2       # enough text to cut and to stream
    return done


def test_invoke_stream_and_batch_answer_what_llmlab_answers(llm, reference):
    chat = LabChatModel(llm=llm, temperature=0.0, max_new_tokens=12)
    answer = chat.invoke(MESSAGES)
    assert answer.content == reference.text
    assert answer.usage_metadata == {"input_tokens": reference.prompt_tokens,
                                     "output_tokens": reference.completion_tokens,
                                     "total_tokens": reference.prompt_tokens + reference.completion_tokens}
    assert answer.response_metadata["finish_reason"] == reference.finish_reason

    chunks = list(chat.stream(MESSAGES))
    assert sum(1 for c in chunks if c.content) >= 2                  # it streams, piece by piece
    assert "".join(c.content for c in chunks) == reference.text
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.usage_metadata == answer.usage_metadata

    other = [HumanMessage("Tell me about files.")]
    assert [m.content for m in chat.batch([MESSAGES, other])] == [reference.text,
                                                                  llm.chat([{"role": "user", "content":
                                                                             "Tell me about files."}],
                                                                           GREEDY).text]
    assert asyncio.run(chat.ainvoke(MESSAGES)).content == reference.text


def test_stop_overrides_and_a_chain(llm, reference):
    chat = LabChatModel(llm=llm, temperature=0.0, max_new_tokens=12)
    stop = reference.text[2:4]
    cut = llm.chat(AS_LAB, SamplingParams(temperature=0.0, max_new_tokens=12, stop=(stop,)))
    assert cut.text != reference.text
    assert chat.invoke(MESSAGES, stop=[stop]).content == cut.text
    assert chat.invoke(MESSAGES, max_new_tokens=2).usage_metadata["output_tokens"] <= 2
    with pytest.raises(LabError, match="unknown sampling setting"):
        chat.invoke(MESSAGES, max_tokens=2)
    prompt = ChatPromptTemplate.from_messages([("system", "Answer briefly."), ("human", "What does {kw} do "
                                                                                       "in a loop?")])
    assert (prompt | chat | StrOutputParser()).invoke({"kw": "break"}) == reference.text
    with pytest.raises(LabError, match="text only"):
        chat.invoke([HumanMessage(content=[{"type": "image", "url": "http://example.invalid/x.png"}])])


def test_an_index_as_a_retriever_returns_the_index_hits(tmp_path):
    from llmlab.rag.index import Index, IndexConfig
    from llmlab.rag.langchain_retriever import LabRetriever

    corpus = Corpus("tiny", [
        Document("loops", "The break statement leaves the nearest enclosing loop. Continue skips ahead."),
        Document("files", "Use open() to read a file. Close the file when done, or use a with statement."),
        Document("maths", "Integers, floats and complex numbers. Division with / gives a float."),
    ])
    cfg = IndexConfig(embed_model="none", chunk_unit="chars", chunk_size=60, chunk_overlap=10)
    index = Index.build(corpus, cfg, out=tmp_path / "idx", progress=False)
    query = "how do I leave the loop with break"
    hits = index.search(query, k=2, method="bm25")
    for retriever in (LabRetriever(index=index, k=2, method="bm25"),
                      LabRetriever.from_folder(str(tmp_path / "idx"), k=2, method="bm25")):
        docs = retriever.invoke(query)
        assert [d.page_content for d in docs] == [h.chunk.text for h in hits]
        assert [(d.id, d.metadata["doc"], d.metadata["score"], d.metadata["rank"]) for d in docs] == \
            [(h.chunk.id, h.chunk.doc, h.score, h.rank) for h in hits]
    assert docs[0].metadata["doc"] == "loops"
    assert len(retriever.invoke(query, k=1)) == 1
