"""A second evaluation set, over python-stdlib source: "how do I ..." questions whose answer is one
function's docstring, in a fixed handful of modules (small enough to index in a few minutes on a CPU).

A hit counts only when it is a chunk of the right file that overlaps that function's docstring, so finding
the module is not enough. Written before any tuning and never tuned on: it checks that settings chosen on
python-docs (English prose) carry over to code.
"""

from __future__ import annotations

import ast

from llmlab.data import Corpus, Document, load_corpus

MODULES = ("textwrap.py", "shutil.py", "fnmatch.py", "glob.py", "bisect.py", "heapq.py", "tempfile.py",
           "base64.py", "statistics.py", "random.py", "string.py", "posixpath.py", "copy.py", "secrets.py")

# (question, module file, function: "name" or "Class.name")
STDLIB_QUESTIONS: list[tuple[str, str, str]] = [
    ("How do I remove the common leading whitespace from every line of a text?", "textwrap.py", "dedent"),
    ("How do I cut a long string down to a width and end it with a placeholder like [...]?", "textwrap.py",
     "shorten"),
    ("How do I add a prefix to the beginning of selected lines of a text?", "textwrap.py", "indent"),
    ("How do I copy a whole directory tree to a new location?", "shutil.py", "copytree"),
    ("How do I delete a folder and everything inside it?", "shutil.py", "rmtree"),
    ("How do I find the full path of an executable on the PATH?", "shutil.py", "which"),
    ("How do I find out how much disk space is free?", "shutil.py", "disk_usage"),
    ("How do I create a zip or tar archive of a folder?", "shutil.py", "make_archive"),
    ("How do I move a file or directory, even to another file system?", "shutil.py", "move"),
    ("How do I test a filename against a shell pattern like *.txt?", "fnmatch.py", "fnmatch"),
    ("How do I turn a shell wildcard pattern into a regular expression?", "fnmatch.py", "translate"),
    ("How do I list all files matching a pattern, including subfolders with **?", "glob.py", "glob"),
    ("How do I escape special characters in a path before globbing it?", "glob.py", "escape"),
    ("How do I insert an item into a sorted list so that it stays sorted?", "bisect.py", "insort_right"),
    ("How do I find where a value should be inserted in a sorted list, before equal items?", "bisect.py",
     "bisect_left"),
    ("How do I get the n largest items of a collection?", "heapq.py", "nlargest"),
    ("How do I merge several sorted inputs into one sorted stream?", "heapq.py", "merge"),
    ("How do I push an item onto a heap and pop the smallest in one step?", "heapq.py", "heappushpop"),
    ("How do I create a temporary directory that I delete myself?", "tempfile.py", "mkdtemp"),
    ("How do I make a temporary file that has a visible name on disk?", "tempfile.py", "NamedTemporaryFile"),
    ("How do I encode bytes as base64?", "base64.py", "b64encode"),
    ("How do I decode base64 that uses - and _ instead of + and /?", "base64.py", "urlsafe_b64decode"),
    ("How do I compute the middle value of a list of numbers?", "statistics.py", "median"),
    ("How do I compute the sample standard deviation of my data?", "statistics.py", "stdev"),
    ("How do I find the most common value in my data?", "statistics.py", "mode"),
    ("How do I shuffle a list in place?", "random.py", "Random.shuffle"),
    ("How do I pick k unique random elements from a population?", "random.py", "Random.sample"),
    ("How do I pick random items with weights, allowing repeats?", "random.py", "Random.choices"),
    ("How do I capitalize every word of a sentence?", "string.py", "capwords"),
    ("How do I replace ~ with the user's home directory in a path?", "posixpath.py", "expanduser"),
    ("How do I get a path relative to another directory?", "posixpath.py", "relpath"),
    ("How do I clean up a path with double slashes and .. parts?", "posixpath.py", "normpath"),
    ("How do I make a deep copy of a nested object?", "copy.py", "deepcopy"),
    ("How do I generate a random hex token for a password reset link?", "secrets.py", "token_hex"),
]


def stdlib_corpus() -> Corpus:
    """The MODULES of this Python's standard library, as one small corpus."""
    full = load_corpus("python-stdlib")
    docs = [d for d in full.documents if d.name in MODULES]
    return Corpus("python-stdlib[docstrings]", docs, source=full.source)


def docstring_span(source: str, qualname: str) -> tuple[int, int] | None:
    """Character offsets of the docstring of `qualname` ("f" or "Class.f") in `source`, or None."""
    tree = ast.parse(source)
    offsets = [0]
    for line in source.split("\n"):
        offsets.append(offsets[-1] + len(line) + 1)
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    # any depth, since some functions are defined under `if hasattr(os, ...)` or `try:`; the first
    # definition that has a docstring wins
    candidates: list = [tree]
    for part in qualname.split("."):
        candidates = [n for c in candidates for n in ast.walk(c) if isinstance(n, defs) and n.name == part]
    for node in candidates:
        first = node.body[0] if node.body else None
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            return (offsets[first.lineno - 1] + first.col_offset,
                    offsets[first.end_lineno - 1] + first.end_col_offset)
    return None


def documents_by_name(corpus: Corpus) -> dict[str, Document]:
    return {d.name: d for d in corpus.documents}
