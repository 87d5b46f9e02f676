"""Human tables for report.html: any summary value (numbers, dicts, lists of records) as rounded HTML.

    render({"rnn": {"params": 21184, "best_val_loss": 1.8734216}, "gru": {...}})
    -> one table, a row per model (rnn, gru) and a column per figure: 21,184 · 1.873

Floats keep 4 significant digits, ints get thousands separators, booleans become ✔/✘; a dict of dicts or a
list of dicts is a table of records, any other dict a two-column table, nested values a table in the cell.
Also reads a Markdown pipe table (the kind PROGRESS.md holds) back into rows, for tables made elsewhere.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

LONG_TEXT = 120          # longer strings (samples, replies) are shown as wrapped preformatted text
LIST_SHOWN = 20          # a long list of plain values shows its first entries and its length


def number(value: float | int) -> str:
    """1234567 -> '1,234,567'; 0.123456789 -> '0.1235'; 12345.678 -> '12,346'; 2.3456e-07 -> '2.35e-07'."""
    if isinstance(value, bool):
        return "✔" if value else "✘"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    if abs(value) < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4g}"


def count(n: int) -> str:
    """A parameter count as people say it: 950 -> '950', 165248 -> '165k', 22713216 -> '22.7M', 124e6 ->
    '124M'."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{suffix}" if value < 100 else f"{value:.0f}{suffix}"
    return str(n)


def label(key: Any) -> str:
    """A summary key as a heading: 'best_val_loss' -> 'best val loss'."""
    return str(key).replace("_", " ")


def render(value: Any) -> str:
    """HTML for one summary value, whatever its shape."""
    if value is None:
        return "—"
    if isinstance(value, bool | int | float):
        return number(value)
    if isinstance(value, str):
        text = html.escape(value)
        return f'<pre class="text">{text}</pre>' if len(value) > LONG_TEXT or "\n" in value else text
    if isinstance(value, dict):
        if value and all(isinstance(v, dict) for v in value.values()):
            return records_table([{"": k, **v} for k, v in value.items()])
        return pairs_table(value)
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, dict) for v in value):
            return records_table(list(value))
        shown = ", ".join(render(v) for v in value[:LIST_SHOWN])
        return shown + (f", … ({len(value)} in all)" if len(value) > LIST_SHOWN else "")
    return html.escape(str(value))


def pairs_table(mapping: dict) -> str:
    rows = "".join(f"<tr><th>{html.escape(label(k))}</th><td>{render(v)}</td></tr>" for k,
                   v in mapping.items())
    return f"<table class='pairs'>{rows}</table>"


def records_table(records: list[dict]) -> str:
    """One row per record, one column per key seen in any of them (in first-seen order)."""
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{render(r.get(c))}</td>" for c in columns) + "</tr>" for r in records
    )
    return f"<table class='records'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_PIPE = re.compile(r"(?<!\\)\|")
_RULE = re.compile(r"^:?-+:?$")


def markdown_rows(markdown: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, other lines) of the pipe table in `markdown`; cells keep their Markdown text."""
    header: list[str] = []
    rows: list[list[str]] = []
    other: list[str] = []
    for line in markdown.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if line:
                other.append(line)
            continue
        cells = [c.strip().replace("\\|", "|") for c in _PIPE.split(line.removeprefix("|").removesuffix("|"))]
        if all(_RULE.match(c) for c in cells):
            continue
        if header:
            rows.append(cells)
        else:
            header = cells
    return header, rows, other


def markdown_table_html(markdown: str) -> str:
    """A Markdown pipe table (plus any text lines around it, as paragraphs) as HTML."""
    header, rows, other = markdown_rows(markdown)
    text = "".join(f"<p>{html.escape(line)}</p>" for line in other)
    if not header:
        return text
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"{text}<table class='records'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
