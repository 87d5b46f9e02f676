"""Answer extraction: the number a model's text gives as its answer, or the label it chose.

    extract_number("... so 1,204 - 5 = 1,199. The answer is 1,199.")    # "1199"
    extract_number("It is -3 degrees", last=False)                       # "-3"
    match_label("Sentiment: Positive!", ("negative", "positive"))        # "positive"
    matches_text("Paris.\\nCountry: Peru", "Paris")                       # True

An explicit "the answer is X" wins; otherwise the last number (chain of thought ends with its result) or the
first (a direct answer starts with it). Thousands separators and a unicode minus are understood; "7.0" and "7"
are the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# a minus counts only where it cannot be subtraction ("10-3" is 10 and 3, not 10 and -3)
NUMBER = r"(?<![\w.)])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMBER = re.compile(NUMBER)
_ANSWER_IS = re.compile(
    r"answer\s*(?:\(arabic numerals\)\s*)?(?:is|:|=)\s*[:\s]*\$?\s*\**\s*(" + NUMBER + ")", re.IGNORECASE
)


def normalize_number(text: str) -> str:
    """Canonical form of one number: no separators, no trailing ".0", no "-0"."""
    from decimal import Decimal, InvalidOperation

    value = text.replace(",", "").replace("\u2212", "-").strip()
    try:
        value = format(Decimal(value).normalize(), "f")     # "0101" -> "101", "7.50" -> "7.5", "7.0" -> "7"
    except InvalidOperation:
        return value
    return "0" if value == "-0" else value


def extract_number(text: str, last: bool = True) -> str | None:
    """The answer a text gives: "the answer is X" if stated (the last such), else its last (or first)
    number."""
    text = text.replace("\u2212", "-")
    stated = _ANSWER_IS.findall(text)
    if stated:
        return normalize_number(stated[-1])
    numbers = _NUMBER.findall(text)
    if not numbers:
        return None
    return normalize_number(numbers[-1] if last else numbers[0])


def match_label(text: str, labels: Sequence[str]) -> str | None:
    """The label the text names first (whole words, any case), or None when it names none."""
    best, at = None, len(text) + 1
    for label in labels:
        found = re.search(r"(?<!\w)" + re.escape(label) + r"(?!\w)", text, re.IGNORECASE)
        if found and found.start() < at:
            best, at = label, found.start()
    return best


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().strip("\"'`*").strip()).lower()


def first_line(text: str) -> str:
    return next((line for line in text.strip().splitlines() if line.strip()), "")


def free_answer(text: str) -> str | None:
    """A free answer as said: the first non-empty line, without surrounding quotes and final punctuation."""
    line = first_line(text).strip().strip("\"'`*").strip().rstrip(".,;:!").strip()
    return line or None


def matches_text(text: str, expected: str) -> bool:
    """A free answer is right when its first line is the expected text, maybe followed by punctuation or more
    words."""
    got, want = _clean(first_line(text)), _clean(expected)
    return got == want or (got.startswith(want) and not got[len(want)].isalnum())
