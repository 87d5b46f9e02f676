"""Corpora by name or path, with one deterministic train/val split rule.

    from llmlab.data import load_corpus
    train, val = load_corpus("python-docs").split()
"""

from llmlab.data.corpus import Corpus, Document
from llmlab.data.sources import NAMED_CORPORA, load_corpus

__all__ = ["Corpus", "Document", "NAMED_CORPORA", "load_corpus"]
