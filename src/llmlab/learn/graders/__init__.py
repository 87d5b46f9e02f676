"""Graders: one function per exercise, `grade(ns)`, raising `Mismatch` at the first case that differs
from the reference library (PyTorch autograd, tiktoken, HF tokenizers, transformers)."""
