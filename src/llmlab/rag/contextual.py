"""Contextual chunks: the title and section path of where a chunk sits, prepended for embedding and BM25.

    context = chunk_context(doc.text, doc.name, chunk.start)  # e.g. 'shutil.py > copytree'
    chunk.indexed                                            # context + blank line + the exact slice

A chunk from the middle of a long page ("... the target list is not deleted ...") says nothing about which
statement it describes; its page title does. Only what is embedded and keyword-indexed changes: the text
shown and cited stays `chunk.text`, the exact slice `doc.text[start:end]`.

Two kinds of document are understood: reStructuredText-like pages (a heading line underlined with one of
`*=-^~"` as long as itself, as in pydoc's topics) and Python source (the `class`/`def` lines enclosing the
chunk's start, found by indentation). Anything else gets its document name as the title.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from llmlab.data import Document
from llmlab.rag.chunking import Chunk

_UNDERLINE = re.compile(r"^([*=\-^~\"#+])\1{2,}\s*$")
_DEF = re.compile(r"^(\s*)(?:async\s+)?(?:def|class)\s+(\w+)")
# heading levels by underline character, in the order pydoc's topics use them
_LEVELS = {"*": 0, "=": 1, "-": 2, "^": 3, "~": 4, '"': 5, "#": 6, "+": 7}


def page_headings(text: str) -> list[tuple[int, int, str]]:
    """(char offset, level, heading) of each underlined heading of a page, in order."""
    out, offset = [], 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        m = _UNDERLINE.match(nxt)
        if line.strip() and m and len(nxt.rstrip()) >= len(line.rstrip()) > 0 and not _UNDERLINE.match(line):
            out.append((offset, _LEVELS[m.group(1)], line.strip()))
        offset += len(line) + 1
    return out


def page_path(text: str, pos: int, headings: list[tuple[int, int, str]] | None = None) -> list[str]:
    """The headings above `pos`, outermost first: ["Compound statements", "The "for" statement"]."""
    stack: list[tuple[int, str]] = []
    for offset, level, heading in page_headings(text) if headings is None else headings:
        if offset > pos:
            break
        stack = [s for s in stack if s[0] < level] + [(level, heading)]
    return [h for _, h in stack]


def code_path(text: str, pos: int) -> list[str]:
    """The class/def names enclosing `pos` in Python source, outermost first: ["Random", "shuffle"].

    A def starting inside the chunk's first line counts too, so a chunk that opens on `def f(...)` is f's."""
    line_end = text.find("\n", pos)
    head = text[:len(text) if line_end < 0 else line_end]
    stack: list[tuple[int, str]] = []
    for line in head.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        stack = [s for s in stack if s[0] < indent]
        m = _DEF.match(line)
        if m:
            stack.append((indent, m.group(2)))
    return [name for _, name in stack]


def chunk_context(text: str, doc: str, pos: int, headings: list | None = None) -> str:
    """A one-line context for a chunk starting at `pos` of document `doc` whose text is `text`."""
    if doc.endswith(".py"):
        return " > ".join([doc, *code_path(text, pos)])
    path = page_path(text, pos, headings)
    return " > ".join(path) if path else doc


def add_context(chunks: list[Chunk], documents: Iterable[Document]) -> list[Chunk]:
    """The same chunks (same ids, same exact text) with `context` set from their document."""
    texts = {d.name: d.text for d in documents}
    headings = {name: page_headings(t) for name, t in texts.items() if not name.endswith(".py")}
    return [dataclasses.replace(c, context=chunk_context(texts[c.doc], c.doc, c.start, headings.get(c.doc)))
            for c in chunks]
