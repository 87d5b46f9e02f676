"""Multi-step arithmetic word problems with known answers and worked rationales, generated from a seed.

    items = word_problems(50, seed=0, min_steps=2, max_steps=4)
    items[0].question   # "Ava has 14 marbles. She buys 3 bags with 6 marbles in each. ... How many marbles
    ..." items[0].rationale  # "Ava starts with 14 marbles. 3 bags of 6 is 3 * 6 = 18, so 14 + 18 = 32. ..."
    items[0].answer     # "29"

Each step is one event (buys more, gives some away, buys bags of several, doubles, shares equally), each
written as a sentence of the question and as an equation of the rationale; numbers keep every intermediate
value a whole, non-negative number. The same seed always gives the same problems.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from llmlab.errors import LabError

NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
         "Maya", "Noor", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara"]
THINGS = ["apples", "marbles", "stickers", "pencils", "cookies", "stamps", "shells", "cards", "books",
          "coins"]
CONTAINERS = ["bags", "boxes", "packs", "jars", "baskets"]


@dataclass
class Item:
    """One question with its known answer; `rationale` is a worked solution ending in "The answer is X."."""
    id: str
    question: str
    answer: str
    rationale: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _step(rng: random.Random, value: int, name: str, thing: str) -> tuple[int, str, str]:
    """One event applied to `value`: (new value, question sentence, rationale sentence)."""
    kinds = ["more", "less", "bags", "double", "share"]
    if value < 2:
        kinds = ["more", "bags", "double"]
    kind = rng.choice(kinds)
    if kind == "more":
        n = rng.randint(2, 30)
        new = value + n
        return new, f"Then {name} finds {n} more {thing}.", f"Finding {n} more gives {value} + {n} = {new}."
    if kind == "less":
        n = rng.randint(1, value - 1)
        new = value - n
        return new, f"Then {name} gives {n} {thing} to a friend.", (f"Giving away {n} leaves {value} - {n} = "
                                                                    f"{new}.")
    if kind == "bags":
        bags, each, box = rng.randint(2, 6), rng.randint(2, 12), rng.choice(CONTAINERS)
        total, new = bags * each, value + bags * each
        return (new, f"Then {name} buys {bags} {box} with {each} {thing} in each.",
                f"{bags} {box} of {each} is {bags} * {each} = {total}, so {value} + {total} = {new}.")
    if kind == "double":
        factor = rng.choice([2, 3]) if value <= 60 else 2
        word = {2: "doubles", 3: "triples"}[factor]
        new = value * factor
        return (new, f"Then {name} {word} the number of {thing}.",
                f"{word.capitalize()} means {value} * {factor} = {new}.")
    # share: split equally among k people (k divides value, k >= 2) and keep one share
    ways = [k for k in range(2, 7) if value % k == 0]
    if not ways:
        n = rng.randint(1, value - 1)
        new = value - n
        return new, f"Then {name} eats {n} of the {thing}.", f"Eating {n} leaves {value} - {n} = {new}."
    k = rng.choice(ways)
    new = value // k
    return (new,
            f"Then {name} shares the {thing} equally among {k} people, {name} included, and keeps one share.",
            f"Sharing among {k} gives {value} / {k} = {new}.")


def word_problem(rng: random.Random, steps: int, index: int) -> Item:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    value = rng.randint(3, 40)
    question = [f"{name} has {value} {thing}."]
    rationale = [f"{name} starts with {value} {thing}."]
    for _ in range(steps):
        value, q, r = _step(rng, value, name, thing)
        question.append(q)
        rationale.append(r)
    question.append(f"How many {thing} does {name} have now?")
    rationale.append(f"The answer is {value}.")
    return Item(f"arithmetic-{index}", " ".join(question), str(value), " ".join(rationale), {"steps": steps})


def check_counts(n: int, min_steps: int, max_steps: int) -> None:
    if not 1 <= min_steps <= max_steps:
        raise LabError(f"steps range [{min_steps}, {max_steps}] is empty",
                       hint="need 1 <= min_steps <= max_steps")
    if n < 1:
        raise LabError(f"n={n}: ask for at least one problem", hint="--n 50")


def word_problems(n: int, seed: int = 0, min_steps: int = 2, max_steps: int = 4) -> list[Item]:
    """`n` problems, the number of steps cycling through min_steps..max_steps (so each count is equally
    common)."""
    check_counts(n, min_steps, max_steps)
    rng = random.Random(f"word-problems-{seed}")
    span = max_steps - min_steps + 1
    return [word_problem(rng, min_steps + i % span, i) for i in range(n)]
