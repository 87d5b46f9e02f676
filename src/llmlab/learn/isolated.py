"""Calling a learner's function in a child process, each call with a deadline: code that hangs or eats memory
(`9**9**9` computed for real) fails its grade instead of hanging `llmlab learn check`.

    for call in call_isolated(Path("calculator.py"), "evaluate", ["1 + 2", "9**9**9"], seconds=2.0,
                              expected_error="llmlab.agents.calculator:CalculatorError"):
        call.kind      # "value" | "raised" | "timeout" | "crashed"; call.value, call.error, call.where

Why a process: a thread cannot be stopped from outside, and SIGALRM's handler waits until a C-level big-int
power returns (hours, for 9**9**9); a process is killed. The child also holds at most MEMORY_BYTES of address
space, so an answer that grows without bound ends as a MemoryError in the child, not as a swapped machine.
Arguments and values cross as JSON: strings, numbers, lists; a value comes back as its type and repr.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

MEMORY_BYTES = 2 << 30          # the child's address space: far past any sane answer, far below the machine's
STARTUP_SECONDS = 30.0          # a fresh interpreter importing the learner's file, on a loaded machine


@dataclass
class IsolatedCall:
    argument: object
    kind: str                   # "value": returned; "raised"; "timeout": killed at the deadline; "crashed"
    type: str = ""              # the value's type name, or the exception's
    value: str = ""             # repr of the value (or "<an int of N bits>" past Python's printing limit)
    error: str = ""             # the exception's message
    expected_error: bool = False   # the exception is an instance of the class the caller expects
    where: str = ""             # the learner's file:line of the exception


def call_isolated(path: Path, function: str, arguments: Sequence, seconds: float,
                  expected_error: str | None = None) -> Iterator[IsolatedCall]:
    """`module.function(argument)` for each argument, in order, in one child; each call gets `seconds`.
    A call past its deadline is yielded as "timeout" and ends the run (the child is killed, later arguments
    are not tried); a child that dies is "crashed" with the end of its stderr."""
    args = [sys.executable, "-m", "llmlab.learn.isolated", str(Path(path).resolve()), function,
            expected_error or ""]
    child = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, encoding="utf-8")
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in child.stdout] + [lines.put(None)],
                              daemon=True)
    reader.start()
    try:
        with contextlib.suppress(BrokenPipeError):        # a child that died at once: reported below
            child.stdin.write(json.dumps(list(arguments)))
            child.stdin.close()
        try:
            ready = lines.get(timeout=STARTUP_SECONDS)      # the child has imported the learner's file
        except queue.Empty:
            yield IsolatedCall(arguments[0] if arguments else None, "crashed",
                               error=f"the child process did not start within {STARTUP_SECONDS:g} s")
            return
        for argument in arguments:
            try:
                line = lines.get(timeout=seconds) if ready is not None else None
            except queue.Empty:
                yield IsolatedCall(argument, "timeout")
                return
            if line is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(5)
                tail = child.stderr.read()[-400:].strip()
                yield IsolatedCall(argument, "crashed",
                                   error=tail or f"the child exited with code {child.returncode}")
                return
            yield IsolatedCall(argument, **json.loads(line))
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdout, child.stderr):
            stream.close()


# ---- the child ---------------------------------------------------------------------------------------------
def _describe_value(value) -> dict:
    try:
        shown = repr(value)
    except ValueError:           # an int past sys.get_int_max_str_digits()
        shown = f"<an int of {value.bit_length():,} bits>"
    return {"kind": "value", "type": type(value).__name__, "value": shown[:10_000]}


def _child(path: str, function: str, expected_error: str) -> None:
    import resource

    from llmlab.learn.catalog import resolve
    from llmlab.learn.learner_code import LearnerCodeError, describe_error, load_module

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(MEMORY_BYTES, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    expected = resolve(expected_error) if expected_error else ()
    arguments = json.loads(sys.stdin.read())
    try:
        func = getattr(load_module(Path(path)), function)
    except (LearnerCodeError, AttributeError) as exc:
        sys.exit(getattr(exc, "message", str(exc)))
    print(json.dumps({"ready": True}), flush=True)
    for argument in arguments:
        try:
            out = _describe_value(func(argument))
        except BaseException as exc:      # noqa: BLE001 - everything the learner's code raises is reported
            out = {"kind": "raised", "type": type(exc).__name__, "error": str(exc)[:500],
                   "expected_error": isinstance(exc, expected) if expected else False,
                   "where": describe_error(exc, Path(path).parent)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    _child(*sys.argv[1:4])
