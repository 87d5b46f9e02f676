"""The self-contained report, runs/roadmap/report.html: a summary table, contents, then one section per
project.

Pictures are embedded as data URIs, so the page opens anywhere without a network. Interactive pages
(tokens.html, attention.html, ...) stay in the step folders beside it and are linked relative to the
report's own folder, so the links work wherever the folder is opened or copied. Figures are rounded
tables (llmlab.roadmap.tables), not JSON.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import os
import re
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from llmlab.roadmap.runner import NOT_BUILT, NOT_RUN, PASSED, StepResult
from llmlab.roadmap.tables import label, markdown_table_html, pairs_table, render
from llmlab.roadmap.tracker import MARK, ExtraTable, models_used, note_for, tally, when

# summary keys with a place of their own
SHOWN_ELSEWHERE = ("checks", "pictures", "headline", "html", "model")
PICTURE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".svg")

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "section{border:1px solid #ddd;border-radius:8px;padding:0.5em 1em;margin:1em 0}"
    "section.passed{border-left:6px solid #2a2}section.failed{border-left:6px solid #c22}"
    "h2 small{font-weight:normal;color:#777;font-size:60%}li.ok{color:#272}li.bad{color:#b22}"
    "ul.checks{list-style:none;padding-left:0}img{max-width:100%}"
    # two pictures a row: the report stays a page one scrolls, not a 20,000-pixel strip
    "figure{display:inline-block;width:48%;margin:0.5%;vertical-align:top}figcaption{font-size:80%;color:#666}"
    "table{border-collapse:collapse;font-size:90%;margin:0.3em 0}"
    "th,td{border:1px solid #e4e4e4;padding:2px 6px;text-align:left;vertical-align:top}"
    "thead th{background:#f4f4f4}td{font-variant-numeric:tabular-nums}"
    "pre.text{white-space:pre-wrap;margin:0;font-size:90%;max-width:60em}"
    "nav ol{columns:2}.top{font-size:85%}"
)


def _href(target: Path, report: Path) -> str:
    """A link from the report to `target` that works from the report's folder (URL-quoted)."""
    relative = os.path.relpath(target.resolve(), report.parent.resolve())
    return urllib.parse.quote(Path(relative).as_posix())


def interactive_pages(result: StepResult, out_root: Path) -> list[Path]:
    """Every HTML page of a step: those its summary names (`pictures`, `html`) and any other in its folder."""
    folder = out_root / result.project.key
    named = [p for p in result.summary.get("pictures", []) if str(p).endswith(".html")]
    extra = result.summary.get("html") or []
    named += [extra] if isinstance(extra, str) else list(extra)
    found = sorted(folder.rglob("*.html")) if folder.is_dir() else []
    pages, seen = [], set()
    for page in [folder / p for p in named] + found:
        if page.exists() and page.resolve() not in seen:
            seen.add(page.resolve())
            pages.append(page)
    return pages


def _picture(path: Path) -> str:
    if path.suffix.lower() not in PICTURE_TYPES or not path.exists():
        return ""
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(path.name)}" src="data:{mime};base64,{data}">'
            f"<figcaption>{html.escape(path.name)}</figcaption></figure>")


def _links(pages: list[Path], report: Path, out_root: Path) -> str:
    items = "".join(
        f'<li><a href="{_href(p, report)}">{html.escape(_shown(p, out_root))}</a></li>' for p in pages
    )
    return f"<ul>{items}</ul>" if items else ""


def _shown(page: Path, out_root: Path) -> str:
    try:
        return page.relative_to(out_root).as_posix()
    except ValueError:
        return str(page)


def _figures(summary: dict) -> str:
    """Plain figures in one two-column table; each nested one (records, dicts) as its own titled table."""
    figures = {k: v for k, v in summary.items() if k not in SHOWN_ELSEWHERE}
    plain = {k: v for k, v in figures.items() if not isinstance(v, dict | list | tuple)}
    nested = {k: v for k, v in figures.items() if isinstance(v, dict | list | tuple)}
    parts = [pairs_table(plain)] if plain else []
    parts += [f"<h3>{html.escape(label(k))}</h3>{render(v)}" for k, v in nested.items()]
    return "".join(parts)


def _time(result: StepResult) -> str:
    if result.status in (NOT_RUN, NOT_BUILT):
        return "—"
    text = f"{result.seconds:.0f} s"
    return text + (f"<br><small>{html.escape(when(result))}</small>" if result.earlier else "")


def _status(result: StepResult) -> str:
    return f"{MARK[result.status]} {html.escape(result.status)}"


def _summary_table(results: list[StepResult]) -> str:
    rows = []
    for r in results:
        headline = r.summary.get("headline", "") if r.status == PASSED else note_for(r)
        rows.append(f'<tr><td><a href="#{r.project.key}">{html.escape(r.project.title)}</a></td>'
                    f"<td>{_status(r)}</td><td>{html.escape(models_used(r.summary))}</td>"
                    f"<td>{html.escape(headline)}</td><td>{_time(r)}</td></tr>")
    return ("<table class='records'><thead><tr><th>project</th><th>status</th><th>model</th>"
            f"<th>headline figure</th><th>time</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _project_section(r: StepResult, report: Path, out_root: Path) -> str:
    checks = "".join(f"<li class={'ok' if v else 'bad'}>{'✔' if v else '✘'} {html.escape(k)}</li>"
                     for k, v in r.summary.get("checks", {}).items())
    links = _links(interactive_pages(r, out_root), report, out_root)
    pictures = "".join(_picture(p if p.is_absolute() else out_root / r.project.key / p)
                       for p in map(Path, r.summary.get("pictures", [])))
    return (f'<section id="{r.project.key}" class="{r.status.replace(" ", "-")}">'
            f"<h2>{MARK[r.status]} {html.escape(r.project.title)} <small>{html.escape(r.status)}"
            f"{'; ' + html.escape(when(r)) if r.earlier else ''}</small></h2>"
            f"<p>{html.escape(note_for(r))}</p><ul class='checks'>{checks}</ul>"
            + (f"<h3>Interactive pages</h3>{links}" if links else "")
            + _figures(r.summary) + pictures
            + '<p class="top"><a href="#contents">↑ contents</a></p></section>')


def _anchor(title: str, index: int) -> str:
    return f"extra-{index}-" + (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "table")


def write_report(results: list[StepResult], path: Path, out_root: Path, mode: str,
                 extra: Sequence[ExtraTable] = ()) -> Path:
    """One HTML file: summary, contents, interactive pages, a section per project, then any extra tables."""
    extras = [(_anchor(e.title, i), e) for i, e in enumerate(extra, start=1)]
    pages = [p for r in results for p in interactive_pages(r, out_root)]
    contents = ['<li><a href="#summary">Summary</a></li>']
    contents += ['<li><a href="#interactive">Interactive pages</a></li>'] if pages else []
    contents += [f'<li><a href="#{r.project.key}">{MARK[r.status]} {html.escape(r.project.title)}</a></li>'
                 for r in results]
    contents += [f'<li><a href="#{a}">{html.escape(e.title)}</a></li>' for a, e in extras]
    body = [
        "<h1>llmlab roadmap</h1>",
        f"<p>{html.escape(mode)} run on {time.strftime('%Y-%m-%d %H:%M')}: "
        f"{html.escape(tally(results))}.</p>",
        f'<nav id="contents"><h2>Contents</h2><ol>{"".join(contents)}</ol></nav>',
        f'<section id="summary"><h2>Summary</h2>{_summary_table(results)}</section>',
    ]
    if pages:
        body.append(f'<section id="interactive"><h2>Interactive '
                    f'pages</h2>{_links(pages, path, out_root)}</section>')
    body += [_project_section(r, path, out_root) for r in results]
    body += [f'<section id="{a}"><h2>{html.escape(e.title)}</h2>{markdown_table_html(e.markdown)}'
             '<p class="top"><a href="#contents">↑ contents</a></p></section>' for a, e in extras]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>llmlab roadmap</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
