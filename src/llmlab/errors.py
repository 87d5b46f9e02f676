"""The one error type users see: a problem and the fix, shown by the CLI as a single line.

Raise `LabError("context is 1024 tokens; the prompt has 1310", hint="shorten it or raise --max-context")`
wherever bad input or a missing resource is detected; anything else is a bug and keeps its traceback
under `--debug`.
"""

from __future__ import annotations


class LabError(Exception):
    """A user-facing error: `message` names the problem, `hint` says how to fix it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ContextWindowError(LabError):
    """The prompt plus the tokens asked for do not fit the model's context window (raised by every `LLM`,
    the serving engine and the prompt planners of chat, RAG and agents alike)."""
