"""Question sets for retrieval evaluation: python-docs test questions and python-stdlib docstring questions.

The lab's original 61 questions (rag/evalset.py) are the dev split, the only one settings are tuned on;
`python_docs_test` was written before any tuning and is only reported; `stdlib_docstrings` asks about a
second corpus so the tuned defaults are checked on text they were not fitted to.
"""
