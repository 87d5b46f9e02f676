"""Stubs of project 8, pretraining data and schedule: MinHash, LSH near-duplicate removal, token shards,
warmup + cosine, a resumable sampler."""
