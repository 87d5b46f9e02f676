"""Stubs of project 6, attention heads: capturing the probabilities with forward hooks, per-head metrics, the
induction test."""
