"""Where an engine step's time goes, measured around the step so that `Engine.step` reads as its algorithm.

    lap = clock.start()
    scheduled = lap("schedule", scheduler.schedule())    # the phase's result passes through; its time is kept
    clock.log_step(scheduled)                            # one row per step, when `clock.log` is a list

On a GPU the model call returns before the device is done, so the "sample" phase (the first to read the
logits) holds the GPU's time too.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

T = TypeVar("T")
PHASES = ("propose", "schedule", "execute", "sample", "process")     # propose: speculative drafts


class StepClock:
    def __init__(self):
        self.totals = dict.fromkeys(PHASES, 0.0)     # seconds per phase over every step
        self.log: list[dict] | None = None           # set to [] to record every step's phases (benchmarks)
        self._last = 0.0
        self._step: dict[str, float] = {}

    def start(self):
        self._last, self._step = time.perf_counter(), {}
        return self.lap

    def lap(self, phase: str, result: T) -> T:
        """Charge the time since the last lap to `phase` (the argument was computed first); pass it on."""
        now = time.perf_counter()
        self._step[phase] = now - self._last
        self.totals[phase] += now - self._last
        self._last = now
        return result

    def log_step(self, scheduled: list[tuple[Any, int]]) -> None:
        if self.log is not None:
            tokens = sum(n for _, n in scheduled)
            self.log.append({"requests": len(scheduled), "tokens": tokens, **self._step})
