"""Stubs of project 1, the NumPy Transformer: layers with forward and backward, the loss, AdamW, the KV
cache."""
