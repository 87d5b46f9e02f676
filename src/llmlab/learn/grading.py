"""Running one grader on a learner's code: a verdict (passed, the first failing case in words, seconds).

A grader is a function `grade(ns)` over the learner's names (`ns.softmax_`, `ns.LayerNorm`, ...) that
raises `Mismatch("...")` at the first case that differs from the reference library. The checks are
seeded, so the same code always gets the same verdict. A learner's own exception is reported as
their file:line and message (see `learner_code.describe_error`), never as llmlab's traceback.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np


class Mismatch(AssertionError):
    """The learner's result differs from the reference: the message says where, by how much, and what."""


class TimeLimit(Exception):
    pass


@dataclass
class Verdict:
    exercise: str
    passed: bool
    message: str = ""
    seconds: float = 0.0


def show(a, limit: int = 6) -> str:
    """A short printable view of an array or value: the first few entries."""
    if isinstance(a, np.ndarray | list | tuple) or hasattr(a, "detach"):
        arr = np.asarray(a.detach() if hasattr(a, "detach") else a)
        flat = arr.reshape(-1)
        body = np.array2string(flat[:limit], precision=4, separator=", ", max_line_width=200)
        return body[:-1] + (", ...]" if flat.size > limit else "]")
    return repr(a)


def check_close(what: str, got, expected, tol: float = 1e-8, inputs: str = "") -> None:
    """Raise Mismatch unless `got` has `expected`'s shape and max |got - expected| <= tol · max(1,
    |expected|)."""
    where = f" ({inputs})" if inputs else ""
    if got is None:
        raise Mismatch(f"{what}{where}: got None — return the result (or write it where the docstring says)")
    exp = np.asarray(expected.detach() if hasattr(expected, "detach") else expected, dtype=np.float64)
    try:
        arr = np.asarray(got.detach() if hasattr(got, "detach") else got, dtype=np.float64)
    except (TypeError, ValueError):
        raise Mismatch(f"{what}{where}: expected an array of shape {exp.shape}, got "
                       f"{type(got).__name__}") from None
    if arr.shape != exp.shape:
        raise Mismatch(f"{what}{where}: shape {arr.shape}, expected {exp.shape}")
    if not np.isfinite(arr).all() and np.isfinite(exp).all():
        bad = int((~np.isfinite(arr)).sum())
        raise Mismatch(f"{what}{where}: {bad} entries are nan or inf (expected all finite) — "
                       f"got {show(arr)}")
    scale = max(1.0, float(np.abs(exp[np.isfinite(exp)]).max(initial=0.0)))
    both_inf = (arr == exp) & ~np.isfinite(exp)
    err = float(np.where(both_inf, 0.0, np.abs(arr - exp)).max(initial=0.0))
    if not err <= tol * scale:   # also catches nan
        index = np.unravel_index(int(np.nanargmax(np.where(both_inf, 0.0, np.abs(arr - exp)))), exp.shape) \
            if exp.size else ()
        at = int(np.ravel_multi_index(index, exp.shape)) if exp.ndim else 0
        lo = max(0, at - 2)                  # show the entries around the worst one
        raise Mismatch(f"{what}{where}: max error {err:.3g} > tolerance {tol * scale:.1g}, worst at index "
                       f"{tuple(int(i) for i in index)}: expected {exp[index]:.6g}, got {arr[index]:.6g}\n"
                       f"flat entries {lo}..: expected {show(exp.reshape(-1)[lo:])}\n"
                       f"{' ' * (len(str(lo)) + 16)}got {show(arr.reshape(-1)[lo:])}")


def check_equal(what: str, got, expected, inputs: str = "") -> None:
    if got != expected:
        where = f" ({inputs})" if inputs else ""
        raise Mismatch(f"{what}{where}:\nexpected {_short(expected)}\ngot      {_short(got)}")


def _short(value, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeLimit in the main thread after `seconds` (elsewhere: no limit; signals need the main
    thread)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum, frame):
        raise TimeLimit()

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_grader(exercise, ns, workspace_dir=None) -> Verdict:
    """Grade one exercise on the namespace `ns` (a learner's module, or llmlab's own objects)."""
    from llmlab.learn.learner_code import describe_error

    start = time.perf_counter()
    missing = [name for name in exercise.entries if not hasattr(ns, name)]
    if missing:
        return Verdict(exercise.name, False, f"{exercise.stub} does not define {', '.join(missing)}")
    try:
        # a learner's overflow shows as a mismatch ("nan or inf"), not as a wall of NumPy warnings
        with time_limit(exercise.time_limit), np.errstate(all="ignore"):
            exercise.grade_function()(ns)
    except Mismatch as exc:
        return Verdict(exercise.name, False, str(exc), time.perf_counter() - start)
    except TimeLimit:
        return Verdict(exercise.name, False,
                       f"took longer than {exercise.time_limit:.0f} s — is there an endless "
                       "loop, or a Python loop over every element?", time.perf_counter() - start)
    except Exception as exc:   # the learner's code raised: their file:line and message
        return Verdict(exercise.name, False, describe_error(exc, workspace_dir), time.perf_counter() - start)
    return Verdict(exercise.name, True, "", time.perf_counter() - start)
