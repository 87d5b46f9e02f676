"""Graders of the in-context learning project: the k-shot prompt text and chat messages against
llmlab.experiments.prompts.icl_prompt on every shipped task, and the choice of demonstrations against its
pick_demos, with the properties any choice must keep (never the query, the same first ones for every k).
"""

from __future__ import annotations

from llmlab.learn.grading import Mismatch, check_equal


def _first_difference(got: str, expected: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), min(len(got),
                                                                                              len(expected)))
    lo = max(0, at - 40)
    return (f"they differ at character {at}:\nexpected ...{expected[lo:at + 40]!r}\n"
            f"got      ...{got[lo:at + 40]!r}")


def grade_few_shot(ns) -> None:
    from llmlab.experiments.icl_tasks import ICL_TASKS, icl_task
    from llmlab.experiments.prompts import icl_prompt, pick_demos

    for name in ICL_TASKS:
        task = icl_task(name)
        for item in task.items[:5]:
            for k in (0, 1, 2, 4, 8):
                demos = pick_demos(task.items, item, k, seed=k)
                for instruction in (True, False):
                    what = (f"task {name!r}, query {item.question!r}, {k} demonstrations, "
                            f"instruction={instruction}")
                    got, expected = ns.icl_prompt(task, item, list(demos), instruction), icl_prompt(task,
                                                                                                    item,
                                                                                                    demos,
                                                                                                      instruction)
                    text = getattr(got, "text", None)
                    if not isinstance(text, str):
                        raise Mismatch(f"icl_prompt ({what}): expected a Prompt with .text, got "
                                       f"{type(got).__name__}")
                    if text != expected.text:
                        raise Mismatch(f"icl_prompt ({what}): .text {_first_difference(text, expected.text)}")
                    check_equal("icl_prompt: .messages", getattr(got, "messages", None), expected.messages,
                                what)
                    check_equal("icl_prompt: (.style, .shots)", (getattr(got, "style", None), getattr(got,
                                                                                                      "shots",
                                                                                                      None)),
                                (expected.style, expected.shots), what)


def grade_demos(ns) -> None:
    from llmlab.errors import LabError
    from llmlab.experiments.icl_tasks import ICL_TASKS, icl_task
    from llmlab.experiments.prompts import pick_demos

    task = icl_task("sentiment")
    try:
        ns.pick_demos(task.items, task.items[0], len(task.items), 0)
    except LabError:
        pass
    else:
        raise Mismatch("pick_demos(40 items, a query among them, k=40): must raise LabError — only 39 other "
                       "items")
    for name in ICL_TASKS:
        items = icl_task(name).items
        for seed in (0, 1, 7):
            for query in items[::3]:
                ids = [d.id for d in ns.pick_demos(items, query, len(items) - 1, seed)]
                what = f"task {name!r}, query {query.id}, seed {seed}"
                if query.id in ids:
                    raise Mismatch(f"pick_demos ({what}): the query itself is among its demonstrations — "
                                   "a query in its own prompt is an answer key")
                for k in (0, 1, 2, 4, 8):
                    got = [d.id for d in ns.pick_demos(items, query, k, seed)]
                    if got != ids[:k]:
                        raise Mismatch(f"pick_demos ({what}, k={k}): {got} are not the first {k} of the "
                                       f"{len(items) - 1}-shot choice {ids[:k]} — one order per (seed, "
                                       f"query), cut at k")
                expected = [d.id for d in pick_demos(items, query, len(items) - 1, seed)]
                check_equal(f"pick_demos ({what}): the ids of every other item, in order", ids, expected,
                            f"random.Random(f'{seed}-{query.id}').shuffle(others)")
