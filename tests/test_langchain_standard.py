"""LangChain's own standard tests (langchain-tests) for the chat-model adapter and the retriever, offline, on
a tiny random GPT-2 and a keyword-only index made here.

Opt-in: langchain-tests is not in `dev`. It runs offline, but brings six pytest plugins into every test
run (pytest-asyncio, -benchmark, -codspeed, -socket, -recording, syrupy) and its ~60 tests take about
40 s on two busy cores, past this suite's budget; tests/test_langchain.py checks the adapters in `make
test`. Run these with:  pip install -c constraints.txt langchain-tests==1.1.9  and
pytest tests/test_langchain_standard.py. Tool calling, structured output, JSON mode and image, audio
or PDF inputs are declared unsupported (the adapter passes text), so those standard tests skip.
"""

from __future__ import annotations

import functools
import inspect
import tempfile

import pytest

pytest.importorskip("langchain_tests", reason="langchain-tests is opt-in: pip install -c constraints.txt "
                                              "langchain-tests==1.1.9 (the module docstring says why)")

from langchain_tests.integration_tests import (  # noqa: E402
    ChatModelIntegrationTests,
    RetrieversIntegrationTests,
)
from langchain_tests.unit_tests import ChatModelUnitTests  # noqa: E402

from llmlab.llm import load_llm  # noqa: E402
from llmlab.llm.langchain_chat import LabChatModel  # noqa: E402


@functools.cache
def tiny_llm():
    """seed=1: a random model whose greedy answers to the standard prompts are not empty (seed 0's answer to
    the two-turn conversation is EOS at once, which test_double_messages_conversation rightly refuses)."""
    from llmlab.serve.random_model import make_model_dir

    folder = make_model_dir(tempfile.mkdtemp(prefix="lc-standard-"), family="gpt2", n_layer=2, n_embd=32,
                            tokenizer="bpe", seed=1)
    return load_llm(f"hf:{folder}")


@functools.cache
def tiny_index():
    from llmlab.data import Corpus, Document
    from llmlab.rag.index import Index, IndexConfig

    topics = ["loops, for example", "files, for example", "strings, for example", "an example of numbers",
              "classes", "modules"]               # the query's word in four of six: BM25 ranks four, not one
    corpus = Corpus("tiny", [Document(f"doc{i}", f"Document {i} is about {topic}.")
                             for i, topic in enumerate(topics)])
    cfg = IndexConfig(embed_model="none", chunk_unit="chars", chunk_size=60, chunk_overlap=10)
    return Index.build(corpus, cfg, progress=False)


def _async_marked(cls):
    """Mark the inherited coroutine tests for pytest-asyncio (its strict mode runs only marked ones)."""
    for name in dir(cls):
        test = getattr(cls, name)
        if name.startswith("test_") and inspect.iscoroutinefunction(test):
            setattr(cls, name, pytest.mark.asyncio(test))
    return cls


class LabChatSettings:
    @property
    def chat_model_class(self):
        return LabChatModel

    @property
    def chat_model_params(self):
        return {"llm": tiny_llm(), "temperature": 0.0, "max_new_tokens": 12}

    @property
    def has_tool_calling(self):
        return False

    @property
    def has_structured_output(self):
        return False


class TestLabChatModelUnit(LabChatSettings, ChatModelUnitTests):
    pass


@_async_marked
class TestLabChatModelIntegration(LabChatSettings, ChatModelIntegrationTests):
    pass


@_async_marked
class TestLabRetriever(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self):
        from llmlab.rag.langchain_retriever import LabRetriever

        return LabRetriever

    @property
    def retriever_constructor_params(self):
        return {"index": tiny_index(), "method": "bm25"}

    @property
    def retriever_query_example(self):
        return "example"
