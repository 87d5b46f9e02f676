"""Search primitives shared by the projects that look things up: BM25 keyword scoring and top-k selection.

    from llmlab.search.bm25 import BM25, tokenize, topic_terms
    from llmlab.search.topk import top_k

Below both `llmlab.rag` (document retrieval) and `llmlab.chat` / `llmlab.agents` (recalling old turns and
remembered facts), so neither project imports the other for it (tests/test_layers.py).
"""
