"""BM25 against rank_bm25 where a term's idf is exactly zero, the case mutation testing (`make mutation`)
found untested: only negative idfs take the epsilon floor."""

import numpy as np

from llmlab.search.bm25 import BM25, tokenize


def test_a_term_in_exactly_half_the_chunks_keeps_idf_zero():
    from rank_bm25 import BM25Okapi

    # "loop" is in 2 of 4 chunks: ln((4 - 2 + 0.5) / (2 + 0.5)) = 0; "python" (3 of 4) is negative and floored
    texts = ["python loop break", "python loop continue", "python class", "dict keys"]
    ours, ref = BM25.build(texts), BM25Okapi([tokenize(t) for t in texts])
    assert ours.idf["loop"] == 0.0 and ours.idf["python"] > 0
    for q in ["loop", "python loop", "keys"]:
        np.testing.assert_allclose(ours.scores(q), ref.get_scores(tokenize(q)), rtol=1e-12, atol=1e-12)
