"""Exercise `extract`: the number a model's text gives as its answer, in one canonical form, so that answers
can be compared and voted on.

Check it with `llmlab learn check cot extract` (hand cases, then the rationales of seeded word problems
written every way a model writes them: with and without "The answer is", separators, decimals, a check after
the answer, direct answers — text for text against llmlab.experiments.extract).

Chain of thought ends with its result, so the LAST number is the answer ("3 * 4 = 12, 12 + 5 = 17" -> 17); a
direct answer starts with it ("17. Because ..." -> 17); and an explicit "The answer is X" beats both, because
a model often checks its work after stating it.

Given (you may write your own):
    _NUMBER     one number: "-3", "1,204", "7.5" — a minus only where it cannot be subtraction ("10-3" is 10
    and 3) _ANSWER_IS  "answer is X", "answer: X", "answer = X", "answer (arabic numerals) is X", "answer is
    $X", any
                case; group 1 is the number X
"""

from __future__ import annotations

from llmlab.experiments.extract import _ANSWER_IS, _NUMBER, NUMBER  # noqa: F401 - for your code


def normalize_number(text: str) -> str:
    """The canonical form of one number, so "1,199", "1199" and "1199.0" are one answer:

        remove "," separators; "\\u2212" (unicode minus) -> "-"; strip spaces
        format(Decimal(value).normalize(), "f"):  "0101" -> "101", "7.50" -> "7.5", "7.0" -> "7", "1e5" ->
        "100000" "-0" -> "0";  text that is not a number is returned as cleaned (no error)

    Examples: "1,199" -> "1199";  "\\u22123" -> "-3";  "12.000" -> "12";  "abc" -> "abc"
    """
    raise NotImplementedError("normalize_number")


def extract_number(text: str, last: bool = True) -> str | None:
    """The answer a text gives, normalised; None when it has no number.

        (unicode minus -> "-" first)
        every "answer is X" in the text (_ANSWER_IS.findall) -> the LAST of them
        else every number (_NUMBER.findall)                   -> the last one (last=True), or the first
        (last=False)

    Examples:
        "... so 1,204 - 5 = 1,199. The answer is 1,199."            -> "1199"
        "The answer is 12. Check: 3 * 4 = 12, 12 + 1 = 13"          -> "12"   (stated beats last)
        "3 bags of 6 is 18, so 14 + 18 = 32"                         -> "32"
        "32. She had 14 and bought 18", last=False                   -> "32"
        "10-3 is 7", last=False                                      -> "10"   (not -3: that minus is
        subtraction) "I am not sure"                                              -> None
    """
    raise NotImplementedError("extract_number")
