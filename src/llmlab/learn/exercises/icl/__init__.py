"""Stubs of the in-context learning project (the few-shot prompt, choosing demonstrations)."""
