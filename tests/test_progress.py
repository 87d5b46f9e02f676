"""The progress bar's time left: the sooner of the last step and the time budget (a --max-time run)."""

from rich.progress import Progress

from llmlab.progress import _TimeLeftColumn, time_left


def test_time_left_is_the_sooner_of_the_last_step_and_the_time_budget():
    assert time_left(114.0, 10.0, 60.0) == 50.0        # a 60 s run whose steps alone would take 114 s more
    assert time_left(20.0, 10.0, 60.0) == 20.0         # the steps end first
    assert time_left(None, 10.0, 60.0) == 50.0         # no rate yet: the budget still bounds it
    assert time_left(114.0, 10.0, None) == 114.0       # no budget: the steps' estimate
    assert time_left(None, 10.0, None) is None
    assert time_left(5.0, 70.0, 60.0) == 0.0           # past the budget: never negative


def test_the_bar_shows_the_budget_when_it_ends_the_run_first():
    clock = [0.0]
    progress = Progress(get_time=lambda: clock[0], auto_refresh=False, disable=True)
    budgeted = progress.add_task("train", total=1000, time_budget=60.0)
    unbounded = progress.add_task("train", total=1000, time_budget=None)
    for clock[0] in (5.0, 10.0):
        for task in (budgeted, unbounded):
            progress.update(task, advance=40)           # 8 steps/s: 920 steps left take 115 s
    column = _TimeLeftColumn()
    assert column.render(progress.tasks[0]).plain == "0:00:50"
    assert column.render(progress.tasks[1]).plain == "0:01:55"
