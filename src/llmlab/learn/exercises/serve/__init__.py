"""Stubs of project 9, the serving engine: the KV block allocator, the prefix hash chain, a scheduler step, an
SSE encoder."""
