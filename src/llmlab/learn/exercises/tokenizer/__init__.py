"""Stubs of project 2, the byte-level BPE tokenizer: pairs, merges, training, encoding, decoding,
splitting."""
