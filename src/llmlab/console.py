"""Terminal output shared by every command: one rich console, summaries as a table or as JSON."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(stderr=False)
err_console = Console(stderr=True)


def print_summary(summary: dict[str, Any], as_json: bool = False, title: str = "summary") -> None:
    """`--json` prints the summary as JSON on stdout (for scripts); otherwise a readable table."""
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    table = Table(title=title, show_header=False)
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, dict | list):
            value = json.dumps(value, default=str)
        table.add_row(str(key), str(value))
    console.print(table)
