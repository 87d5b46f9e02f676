"""Retrieval quality pieces: contextual chunks, near-duplicate collapse, identifier terms, MMR, grounding
scores, and the dev/test/stdlib evaluation sets. Tiny hand-made inputs; no model is loaded."""

import numpy as np
import pytest

from llmlab.data import Corpus, Document, load_corpus
from llmlab.rag.contextual import chunk_context, code_path, page_path
from llmlab.rag.dedup import collapse, exact_copies
from llmlab.rag.evalset import QUESTIONS, heldout, questions
from llmlab.rag.evalsets.python_docs_test import TEST_QUESTIONS
from llmlab.rag.evalsets.stdlib_docstrings import docstring_span
from llmlab.rag.grounding import context_precision, grounding
from llmlab.rag.index import Index, IndexConfig
from llmlab.rag.mmr import mmr
from llmlab.search.bm25 import BM25, identifier_terms, tokenize, with_identifiers
from test_rag_retrieval import HashEmbedder

PAGE = ("Compound statements\n*******************\n\nIntro text.\n\n"
        "The for statement\n=================\n\nLoops over items.\n\n"
        "Else clause\n-----------\n\nRuns when the loop ends.\n\n"
        "The while statement\n===================\n\nLoops while true.\n")
SOURCE = ("import os\n\nclass Random:\n    def shuffle(self, x):\n"
          "        \"\"\"Shuffle list x in place.\"\"\"\n"
          "        pass\n\n    def sample(self, population, k):\n        return []\n\ndef top():\n    pass\n")


def test_section_paths_of_pages_and_source():
    assert page_path(PAGE, PAGE.index("Runs when")) == ["Compound statements", "The for statement",
                                                        "Else clause"]
    # a heading of the same level closes the previous one and its subsections
    assert page_path(PAGE, PAGE.index("Loops while")) == ["Compound statements", "The while statement"]
    assert code_path(SOURCE, SOURCE.index('"""Shuffle')) == ["Random", "shuffle"]
    assert code_path(SOURCE, SOURCE.index("return []")) == ["Random", "sample"]
    assert code_path(SOURCE, SOURCE.index("def top")) == ["top"]
    assert chunk_context(SOURCE, "random.py", SOURCE.index("pass")) == "random.py > Random > shuffle"


def test_contextual_chunks_are_exact_slices_and_embed_their_context():
    corpus = Corpus("tiny", [Document("compound", PAGE), Document("random.py", SOURCE)])
    emb = HashEmbedder()
    seen = []
    emb.embed_documents = lambda texts, progress=True: (seen.extend(texts), emb._embed(texts))[1]
    index = Index.build(corpus, IndexConfig(chunk_size=60, chunk_overlap=8, chunk_unit="chars",
                                            store="numpy"), embedder=emb, progress=False)
    texts = {d.name: d.text for d in corpus.documents}
    for c in index.chunks:
        assert c.text == texts[c.doc][c.start:c.end]          # shown and cited: the exact slice
        assert c.context and c.indexed == f"{c.context}\n\n{c.text}"
    assert seen == [c.indexed for c in index.chunks]           # embedded: context + slice
    # BM25 reads the context too: every chunk of the page matches its title, even those whose text lacks it
    scores = index.bm25.scores(index.bm25_queries(["compound"])[0])
    page = [i for i, c in enumerate(index.chunks) if c.doc == "compound"]
    assert any("Compound" not in index.chunks[i].text for i in page) and (scores[page] > 0).all()


def test_dedup_collapses_copies_and_lists_every_source():
    text = "The if statement is used for conditional execution of a block."
    texts = [text, "Something else entirely about loops.", " ".join(text.split()) + " ",
             "Prefix words. " + text, "Another unrelated chunk on files."]
    copies = exact_copies(texts)
    assert copies == {0: [2], 2: [0]}
    kept = collapse([0, 1, 3, 2, 4], texts, k=3, copies=copies)
    assert [row for row, _ in kept] == [0, 1, 4]
    assert sorted(kept[0][1]) == [2, 3]                        # the exact copy and the near one (contained)
    # one passage per document: row 1 shares row 0's document, so row 4 takes its place
    one_each = collapse([0, 1, 4], texts, k=2, docs=["a", "a", "b", "b", "c"], per_doc=1)
    assert [r for r, _ in one_each] == [0, 4]
    # through an index: no two hits show the same text, and the copy's document is listed
    corpus = Corpus("c", [Document("if", text), Document("else", text), Document("loops", texts[1]),
                          *(Document(f"other{i}", f"Unrelated words number {i} about files.")
                            for i in range(4))])
    index = Index.build(corpus, IndexConfig(chunk_unit="chars", store="numpy"), embedder=HashEmbedder(),
                        progress=False)
    for method in ("hybrid", "dense", "bm25"):
        hits = index.search("conditional execution if statement", k=3, method=method)
        assert len({h.chunk.text for h in hits}) == len(hits)
        assert {c.doc for c in hits[0].sources} == {"if", "else"}
    plain = index.search("conditional execution if statement", k=3, method="bm25", dedup=False)
    assert [h.chunk.text for h in plain[:2]] == [text, text]   # what dedup removes
    long = " ".join(f"loop {i} breaks early." for i in range(40))
    pages = Corpus("p", [Document("long", long), *corpus.documents[2:]])
    index = Index.build(pages, IndexConfig(chunk_unit="chars", chunk_size=80, chunk_overlap=0, store="numpy"),
                        embedder=HashEmbedder(), progress=False)
    for dedup in (True, False):
        docs = [h.chunk.doc for h in index.search("loop breaks", k=3, method="bm25", dedup=dedup, per_doc=1)]
        assert len(docs) == len(set(docs)) and docs[0] == "long"   # one hit per document
        unlimited = index.search("loop breaks", k=3, method="bm25", dedup=dedup, per_doc=None)
        assert [h.chunk.doc for h in unlimited] == ["long"] * 3


def test_identifier_terms_keep_code_names_whole():
    assert identifier_terms("call str.join(x) in __init__(self, *args, **kwargs)") == [
        "str__join", "star__args", "starstar__kwargs", "init"]
    assert identifier_terms("a*b and c.d") == ["c__d"]
    assert identifier_terms("x << 2 and 2**10 // 3") == ["op__lshift", "op__power", "op__floordiv"]
    # the extra terms are single BM25 tokens, and the scores stay plain BM25 over the tokens
    docs = ["use str.join to glue strings", "join two tables", "str is a type"]
    plain, coded = BM25.build(docs), BM25.build([with_identifiers(d) for d in docs])
    assert "str__join" in tokenize(with_identifiers("str.join"))
    assert np.argmax(coded.scores(with_identifiers("str.join"))) == 0
    assert plain.scores("str join")[0] > 0 and coded.scores("str__join")[1:].sum() == 0


def test_mmr_on_hand_made_vectors():
    v = np.array([[1, 0, 0], [0.999, 0.0447, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rel = np.array([1.0, 0.95, 0.6, 0.1])
    assert mmr(rel, v, k=4, lam=1.0) == [0, 1, 2, 3]          # lambda 1: relevance order
    assert mmr(rel, v, k=3, lam=0.5) == [0, 2, 3]             # the near-copy of 0 waits behind new topics
    assert mmr(rel, v, k=2, lam=0.7)[:2] == [0, 2]


def test_grounding_scores_on_hand_made_answers():
    sources = ["The break statement leaves the nearest enclosing loop.",
               "Integers and floats mix; the result is a float."]
    good = grounding("The break statement leaves the enclosing loop [1]. "
                     "Integers and floats mix to a float [2].", sources)
    assert good.faithfulness == 1.0 and good.context_precision == 1.0
    assert [s.cited for s in good.sentences] == [[1], [2]]
    bad = grounding("The break statement leaves the loop [2]. Penguins enjoy cold weather [1].", sources)
    assert bad.faithfulness == 0.0 and bad.sentences[0].lexical < 0.5
    half = grounding("Integers and floats mix into a float [2]. Penguins enjoy cold weather [1].", sources)
    assert half.faithfulness == 0.5
    assert half.context_precision == 0.5                       # the useful source is ranked second
    assert context_precision({0, 2}, 3) == pytest.approx((1 + 2 / 3) / 2)
    # an embedding that calls everything alike supports every sentence
    same = grounding("Penguins enjoy cold weather [1].", sources,
                     embed=lambda texts: np.ones((len(texts), 2)) / np.sqrt(2))
    assert same.faithfulness == 1.0 and same.sentences[0].similarity == pytest.approx(1.0)


def test_dev_and_test_splits_are_disjoint_and_test_is_large_enough():
    corpus = load_corpus("python-docs")
    dev, test = questions(corpus), heldout(corpus)
    assert len(dev) == len(QUESTIONS) and len(test) == len(TEST_QUESTIONS) >= 60
    norm = {" ".join(q.lower().split()) for q, _ in QUESTIONS}
    assert not norm & {" ".join(q.text.lower().split()) for q in test}


def test_stdlib_questions_point_at_real_docstrings():
    source = 'def f():\n    """Say hi."""\n    return 1\n\nclass C:\n    def g(self):\n        "G doc."\n'
    start, end = docstring_span(source, "f")
    assert source[start:end] == '"""Say hi."""'
    start, end = docstring_span(source, "C.g")
    assert source[start:end] == '"G doc."'
    assert docstring_span(source, "missing") is None


def test_page_openings_rank_documents_by_their_first_chunk():
    docs = [Document("loops", "Loops and break.\n\n" + "Other words here. " * 10),
            Document("files", "Files and open.\n\n" + "More words there. " * 10),
            Document("maths", "Numbers and floats.\n\n" + "Yet more words. " * 10)]
    emb = HashEmbedder()
    index = Index.build(Corpus("c", docs), IndexConfig(chunk_unit="chars", chunk_size=60, chunk_overlap=0,
                                                       store="numpy"), embedder=emb, progress=False)
    (order,) = index.opening_ranks(["files and open"], depth=3)
    assert index.chunks[order[0]].doc == "files" and all(index.chunks[r].start == 0 for r in order)
    sims = emb.embed_queries(["files and open"])[0] @ index.vectors[order].T
    assert list(sims) == sorted(sims, reverse=True)
    with_pages = index.search("files and open", k=2)
    assert "opening" in with_pages[0].parts and with_pages[0].chunk.doc == "files"
    assert all("opening" not in h.parts for h in index.search("files and open", k=2, opening=0.0))
