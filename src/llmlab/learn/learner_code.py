"""Importing a learner's exercise file, and telling them about their errors as file:line + message.

Each file is imported under a fresh module name with its folder on sys.path (so one exercise may
import another: `from softmax import softmax_`), and that folder's modules are forgotten afterwards,
so an edit is always picked up by the next check.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

from llmlab.errors import LabError


class LearnerCodeError(Exception):
    """The learner's file could not be imported: `message` is their file:line and what went wrong."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def load_module(path: Path):
    """Import the learner's file; raise LearnerCodeError with their file:line on any failure."""
    path = Path(path).resolve()
    if not path.exists():
        raise LabError(f"{path} does not exist",
                       hint="run `llmlab learn start PROJECT` first (or pass --dir)")
    folder = str(path.parent)
    name = f"llmlab_learner_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise LearnerCodeError(describe_error(exc, path.parent)) from None
    finally:
        sys.path.remove(folder)
        for key, mod in list(sys.modules.items()):
            if str(getattr(mod, "__file__", "") or "").startswith(folder + "/"):
                del sys.modules[key]
    return module


def describe_error(exc: BaseException, folder: Path | None = None) -> str:
    """"softmax.py:14: NameError: name 'x' is not defined" — the deepest frame in the learner's folder."""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{Path(exc.filename).name}:{exc.lineno}"
        line = f"\n    {exc.text.strip()}" if exc.text else ""
        return f"{where}: SyntaxError: {exc.msg}{line}"
    frames = traceback.extract_tb(exc.__traceback__)
    if folder is not None:
        folder = str(Path(folder).resolve())
        theirs = [f for f in frames if str(Path(f.filename).resolve()).startswith(folder)]
    else:
        theirs = []
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, NotImplementedError):
        frame = (theirs or frames or [None])[-1]
        where = f" ({Path(frame.filename).name}:{frame.lineno}, in {frame.name})" if frame else ""
        name = str(exc) or (frame.name if frame else "a function")
        return f"not written yet: {name} raises NotImplementedError{where}"
    if theirs:
        frame = theirs[-1]
        return (f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}: {what}\n    "
                f"{frame.line or ''}").rstrip()
    frame = frames[-1] if frames else None
    return f"{what}" + (f" (raised in {_short_path(frame.filename)}:{frame.lineno}, working on what your "
                        f"code "
                        "returned)" if frame else "")


def _short_path(filename: str) -> str:
    """llmlab's own files as llmlab/numpy_transformer/attention.py, so they are not taken for the
    learner's."""
    parts = Path(filename).parts
    return "/".join(parts[parts.index("llmlab"):]) if "llmlab" in parts else Path(filename).name
