"""llmlab: a hands-on LLM lab — nine projects from a NumPy Transformer to a served model.

Run `llmlab --help` for the commands, `llmlab roadmap --quick` for the whole tour.
"""

__version__ = "0.1.0"
