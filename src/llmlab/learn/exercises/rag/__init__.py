"""Stubs of project 7, RAG: chunking with overlap, BM25, reciprocal rank fusion, recall@k and MRR."""
