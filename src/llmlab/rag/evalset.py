"""Evaluation sets: questions whose answer document is known, so retrieval can be scored offline.

- `questions` (= `dev`): 61 questions written by hand for this lab, in a user's words rather than the
  manual's (e.g. "How do I leave a loop before it finishes?" -> break). Each names the one document that
  answers it. Retrieval settings are tuned on these only.
- `test`: 81 more python-docs questions (evalsets/python_docs_test.py), written before any tuning and only
  reported, never tuned on.
- `stdlib`: 34 "how do I ..." questions over 14 python-stdlib modules whose answer is one function's
  docstring (evalsets/stdlib_docstrings.py); a hit counts only if its chunk overlaps that docstring.
- `titles`: every document's own title as the query (79 known-item queries): easy, a sanity floor.

Relevance is widened by rule, not by hand: python-docs repeats text (`else` is a copy of `if`; `compound`
holds `for`, `while`, `try`, ...; `specialnames` holds `customization`, ...), so a document that contains
the answer document's opening paragraph verbatim answers it too. Those copies form one answer group;
finding any member counts once (see metrics.py). Limits: 61 questions by one author, English only, one
corpus; the figures compare methods on the same questions, they do not predict accuracy elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmlab.data import Corpus

# (question, answer document)
QUESTIONS: list[tuple[str, str]] = [
    ("How can I check a condition in my code and stop with an error if it is false, only in debug mode?",
     "assert"),
    ("Can I unpack a tuple into several variables in a single line?", "assignment"),
    ("How do I define a coroutine function with async def?", "async"),
    ("What happens to names that start with two underscores inside a class body?", "atom-identifiers"),
    ("What kinds of string and number constants can appear directly in source code?", "atom-literals"),
    ("How do I intercept every lookup of a missing attribute on my objects with __getattr__?",
     "attribute-access"),
    ("Which method runs when I write x += 1, and does it modify the object in place?", "augassign"),
    ("How does the await expression suspend a coroutine?", "await"),
    ("What does the @ operator do, and how does // floor division behave with negative numbers?", "binary"),
    ("How do &, | and ^ work on integers?", "bitwise"),
    ("What does the compile() built-in return, and how is it different from a function object?",
     "bltin-code-objects"),
    ("What is the ... literal used for when slicing?", "bltin-ellipsis-object"),
    ("What value does a function return when it has no return statement?", "bltin-null-object"),
    ("How do I find out the class of an object at runtime with type()?", "bltin-type-objects"),
    ("What do the and / or operators return: True/False or one of their operands?", "booleans"),
    ("How do I leave a loop before it finishes?", "break"),
    ("How can I make instances of my class callable like a function?", "callable-types"),
    ("What happens when I call a function with *args and **kwargs?", "calls"),
    ("How do I write a class definition with a base class and a decorator?", "class"),
    ("Can comparisons like a < b < c be chained, and how is identity tested with is?", "comparisons"),
    ("Which methods must an object define to be used in a with statement?", "context-managers"),
    ("How do I skip the rest of the current iteration and go on with the next one?", "continue"),
    ("If I add an int and a float, what type is the result?", "conversions"),
    ("Which method controls how my object is printed by repr(), and when is __init__ called?",
     "customization"),
    ("How do I set a breakpoint and step through my program line by line?", "debugger"),
    ("How do I remove a variable or an item from a list by index?", "del"),
    ("How do I write a dictionary comprehension?", "dict"),
    ("Why can eval() and exec() not see the variables of the enclosing function?", "dynamic-features"),
    ("What happens when an error is raised and not handled anywhere?", "exceptions"),
    ("What makes a piece of code a block, and how are names resolved between blocks?", "execmodel"),
    ("How do I write numbers with a decimal point or an exponent like 1e-3?", "floating"),
    ("How do I iterate over the items of a list and run an else clause when the loop ends?", "for"),
    ("How do I pad a number with zeros or align text in a format string?", "formatstrings"),
    ("How do default argument values work, and why is a mutable default shared between calls?", "function"),
    ("How can a function change a module-level variable?", "global"),
    ("Which names are skipped by from module import *?", "id-classes"),
    ("Which words are reserved keywords and cannot be used as variable names?", "identifiers"),
    ("How do I branch on several conditions with elif?", "if"),
    ("How do I write a complex number with an imaginary part in source code?", "imaginary"),
    ("How does Python find the module when I import a package?", "import"),
    ("How do I test whether a value is contained in a list or a substring in a string?", "in"),
    ("How do I write integers in hexadecimal, octal or binary, with underscores for readability?",
     "integers"),
    ("How do I write a small anonymous function inline?", "lambda"),
    ("How can a nested function rebind a variable of the function around it?", "nonlocal"),
    ("Which methods should a class define so that its objects support + and *?", "numeric-types"),
    ("Does every object have an identity, a type and a value, and what does id() return?", "objects"),
    ("Which operators bind more tightly than others, for example not versus and?", "operator-summary"),
    ("Is there a statement that does nothing, as a placeholder?", "pass"),
    ("Why is -1 ** 2 equal to -1?", "power"),
    ("How do I throw an exception and chain it to the one that caused it?", "raise"),
    ("What does << do to an integer?", "shifting"),
    ("How do I take every second element of a list with a step?", "slicings"),
    ("What does the __qualname__ attribute hold?", "specialattrs"),
    ("How do I split a string on a separator or strip whitespace from its ends?", "string-methods"),
    ("What is the difference between a raw string and a normal string literal with backslashes?", "strings"),
    ("Which values count as false in an if condition?", "truth"),
    ("How do I run cleanup code whether or not an exception happened?", "try"),
    ("How do I merge two dictionaries or get a value with a default?", "typesmapping"),
    ("What is a bound method and what does __self__ refer to?", "typesmethods"),
    ("How do I insert an item into a list, or sort it in place?", "typesseq-mutable"),
    ("How do I generate values lazily from a function instead of building a list?", "yield"),
]


@dataclass(frozen=True)
class Query:
    text: str
    answer: str                          # the document written down as the answer
    groups: tuple[frozenset[str], ...]   # answer groups: documents equivalent to the answer
    span: tuple[int, int] | None = None  # when set, only a chunk of `answer` overlapping these offsets counts

    def label(self, doc: str, start: int, end: int) -> str:
        """The document a retrieved chunk stands for; a chunk of the answer outside `span` is a miss."""
        if self.span is not None and doc == self.answer and not (start < self.span[1] and end > self.span[0]):
            return f"{doc}#elsewhere"
        return doc


def opening(text: str, chars: int = 400) -> str:
    """A document's first paragraph(s) after its title and underline: the text a copy would repeat."""
    return "\n".join(text.split("\n")[3:])[:chars].strip()


def answer_group(corpus: Corpus, answer: str) -> frozenset[str]:
    """`answer` and every document that repeats its opening verbatim."""
    texts = {d.name: d.text for d in corpus.documents}
    if answer not in texts:
        return frozenset({answer})
    head = opening(texts[answer])
    return frozenset({answer} | {n for n, t in texts.items() if head and head in t})


def questions(corpus: Corpus) -> list[Query]:
    """The hand-written questions whose answer document is in `corpus` (all 61 for python-docs)."""
    names = {d.name for d in corpus.documents}
    return [Query(q, a, (answer_group(corpus, a),)) for q, a in QUESTIONS if a in names]


def heldout(corpus: Corpus) -> list[Query]:
    """The test split: questions written before tuning, in a user's words (never tuned on)."""
    from llmlab.rag.evalsets.python_docs_test import TEST_QUESTIONS

    names = {d.name for d in corpus.documents}
    return [Query(q, a, (answer_group(corpus, a),)) for q, a in TEST_QUESTIONS if a in names]


def stdlib(corpus: Corpus) -> list[Query]:
    """Docstring questions whose module is in `corpus` (all of them for python-stdlib or its subset
    evalsets.stdlib_docstrings.stdlib_corpus())."""
    from llmlab.rag.evalsets.stdlib_docstrings import STDLIB_QUESTIONS, docstring_span

    texts = {d.name: d.text for d in corpus.documents}
    out = []
    for q, module, function in STDLIB_QUESTIONS:
        span = docstring_span(texts[module], function) if module in texts else None
        if span is not None:
            out.append(Query(q, module, (frozenset({module}),), span))
    return out


def titles(corpus: Corpus) -> list[Query]:
    """Each document's first line as a query for that document."""
    return [Query(d.text.split("\n", 1)[0].strip(), d.name, (answer_group(corpus, d.name),))
            for d in corpus.documents if d.text.strip()]


EVAL_SETS = {"questions": questions, "dev": questions, "test": heldout, "stdlib": stdlib, "titles": titles}
