"""Graders of the chain-of-thought project: answer extraction text for text against llmlab.experiments.extract
(hand cases, then seeded word problems' rationales written every way a model writes them), and
self-consistency voting against llmlab.experiments.stats.majority on hand cases and seeded lists full of ties
and missing answers.
"""

from __future__ import annotations

import random

from llmlab.learn.grading import Mismatch, check_equal

HAND_NORMAL = ["1,199", "\u22123", "12.000", "0101", "7.50", "7.0", "-0", "-0.0", "1e5", "abc", " 42 ",
               "1,000,000.10"]
HAND_TEXTS = [("... so 1,204 - 5 = 1,199. The answer is 1,199.", True,
               "the stated answer, without its separator"),
              ("The answer is 12. Check: 3 * 4 = 12, 12 + 1 = 13", True,
               "a stated answer beats the last number"),
              ("The answer is 3. No wait, the answer is 5.", True, "the LAST stated answer"),
              ("3 bags of 6 is 18, so 14 + 18 = 32", True, "no stated answer: the last number"),
              ("32. She had 14 and bought 18", False, "a direct answer: the first number"),
              ("10-3 is 7", False, "that minus is subtraction: 10, not -3"),
              ("It is -3 degrees", True, "a minus after a space is a sign"),
              ("The change is \u22124 dollars", True, "a unicode minus is a minus"),
              ("It costs 7.50 each", True, "decimals, normalised"),
              ("Answer (arabic numerals) is 17", True, "Kojima's answer cue"),
              ("the answer: $1,250", True, "'answer:' and a dollar sign"),
              ("I am not sure", True, "no number at all: None"),
              ("", False, "an empty text: None")]


def grade_extract(ns) -> None:
    from llmlab.experiments.extract import extract_number, normalize_number
    from llmlab.experiments.word_problems import word_problems

    for text in HAND_NORMAL:
        check_equal(f"normalize_number({text!r})", ns.normalize_number(text), normalize_number(text),
                    "no separators, unicode minus as '-', Decimal(...).normalize() in 'f' format, '-0' -> "
                    "'0'")
    for text, last, why in HAND_TEXTS:
        check_equal(f"extract_number({text!r}, last={last})", ns.extract_number(text, last=last),
                    extract_number(text, last=last), why)
    rng = random.Random(16)
    for item in word_problems(40, seed=16):
        body = item.rationale.rsplit("The answer is", 1)[0].rstrip()
        big = f"{int(item.answer) * 1000:,}"
        for text, why in [(item.rationale, "a worked rationale ending in 'The answer is X.'"),
                          (body, "the rationale without its last sentence: the last number"),
                          (f"{item.rationale} Let me check: {body}", "a check after the stated answer"),
                          (f" {item.answer}.\n\nQ: {item.question}",
                           "a direct answer, then the model goes on"),
                          (f"{body} So the total is {big} in thousandths.", "thousands separators"),
                          (f"{body} In all \u2212{item.answer}, or {item.answer}.0",
                           "unicode minus and '.0'"),
                          (f"answer = {item.answer}.50 {rng.randint(0, 99)}", "'answer =' and a decimal")]:
            for last in (True, False):
                check_equal(f"extract_number({text!r}, last={last})", ns.extract_number(text, last=last),
                            extract_number(text, last=last), why)


HAND_VOTES = [(["7", "7", "3", None], "7 has two votes"),
              (["3", "7", "7", "3"], "3 and 7 tie with two votes: 3 was seen first"),
              (["7", "3", "3", "7"], "the same tie the other way round: 7 was seen first"),
              (["12", "9", "100"], "three single votes: the first"),
              ([None, "", "5"], "None and '' do not vote"),
              ([None, "", "", "4", "4", "2", "2", "2"], "blanks do not vote, even many of them"),
              ([None, None], "no answers at all: None"),
              ([], "no samples: None")]


def grade_vote(ns) -> None:
    from llmlab.experiments.stats import majority

    for answers, why in HAND_VOTES:
        check_equal(f"majority({answers})", ns.majority(list(answers)), majority(answers), why)
    rng = random.Random(16)
    for _ in range(400):
        pool = rng.sample(["3", "7", "12", "0", "-4", "2.5", "100", "9"], rng.randint(1, 5)) + [None, ""]
        answers = [rng.choice(pool) for _ in range(rng.randint(1, 9))]
        expected = majority(answers)
        got = ns.majority(tuple(answers))        # any sequence: the harness may pass a tuple
        if got != expected:
            raise Mismatch(f"majority({answers}): expected {expected!r}, got {got!r} — "
                           f"{_why(answers, expected)}")


def _why(answers: list, expected) -> str:
    if expected is None:
        return "no sample has an answer"
    counts = {a: answers.count(a) for a in answers if a not in (None, "")}
    tied = sorted((a for a, c in counts.items() if c == counts[expected]), key=answers.index)
    if len(tied) == 1:
        return f"{expected!r} has the most votes ({counts[expected]})"
    return (f"{' and '.join(map(repr, tied))} tie with {counts[expected]} votes each: the first seen, "
            f"{expected!r}, wins")
