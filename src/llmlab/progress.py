"""Progress bars for long work, with a throughput column (tokens/s, docs/s, ...) and ETA.

    with progress_bar(total=steps, description="train", unit="tok") as bar:
        bar.advance(1, amount=tokens_this_step)

`advance(n, amount)` moves the bar by n and counts `amount` units for the rate column, so a step-based
bar can still show tokens/s. A run that also stops on a clock (`--max-time`) passes `time_budget`, and
the time left is the sooner of the two ends (`time_left`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        rate = task.fields.get("rate")
        unit = task.fields.get("unit", "it")
        if not rate:
            return Text("")
        scaled = f"{rate / 1e3:.1f}k" if rate >= 1e4 else f"{rate:.1f}"
        return Text(f"{scaled} {unit}/s", style="cyan")


def time_left(by_steps: float | None, elapsed: float | None, time_budget: float | None) -> float | None:
    """Seconds until a run ends that stops after its last step or when its time budget is spent, whichever
    comes first. `by_steps`: the estimate from the rate so far (None before there is one).

    A 60 s run whose remaining steps would take 114 s at its rate, 10 s in: min(114, 60 - 10) = 50 s.
    """
    if time_budget is None:
        return by_steps
    by_clock = max(time_budget - (elapsed or 0.0), 0.0)
    return by_clock if by_steps is None else min(by_steps, by_clock)


class _TimeLeftColumn(TimeRemainingColumn):
    """rich's time-remaining column, ending at the time budget when that comes before the last step."""

    def render(self, task) -> Text:
        left = time_left(task.time_remaining if task.total is not None else None, task.elapsed,
                         task.fields.get("time_budget"))
        if left is None:
            return Text("" if task.total is None else "-:--:--", style="progress.remaining")
        minutes, seconds = divmod(int(left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"{hours:d}:{minutes:02d}:{seconds:02d}", style="progress.remaining")


class Bar:
    """A handle on one task of a rich Progress: advance it and update extra text."""

    def __init__(self, progress: Progress | None, task_id: int | None, unit: str):
        self._progress, self._task, self.unit = progress, task_id, unit
        self._start, self._amount = time.perf_counter(), 0.0

    def advance(self, n: float = 1, amount: float | None = None, **fields) -> None:
        self._amount += n if amount is None else amount
        if self._progress is None:
            return
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        self._progress.update(self._task, advance=n, rate=self._amount / elapsed, **fields)

    def set_status(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, status=text)


def bars_enabled() -> bool:
    return os.environ.get("LLMLAB_NO_PROGRESS", "") == "" and sys.stderr.isatty()


@contextmanager
def progress_bar(total: float | None, description: str, unit: str = "it",
                 enabled: bool | None = None, time_budget: float | None = None) -> Iterator[Bar]:
    """A bar on stderr; silent when stderr is not a terminal (logs, CI) or LLMLAB_NO_PROGRESS is set.
    `time_budget`: the seconds the work may still take at most (a --max-time run), for the time left."""
    if not (bars_enabled() if enabled is None else enabled):
        yield Bar(None, None, unit)
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), _RateColumn(), TimeElapsedColumn(), _TimeLeftColumn(),
               TextColumn("{task.fields[status]}")]
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total, unit=unit, rate=None, status="",
                                 time_budget=time_budget)
        yield Bar(progress, task, unit)
