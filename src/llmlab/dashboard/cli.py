"""`llmlab dashboard`: the Streamlit lab dashboard over runs/ (every project's runs, curves overlaid).

    llmlab dashboard [--runs runs] [--host 127.0.0.1] [--port 8501]

Needs the optional extra: pip install 'llmlab[dashboard]'. Ctrl-C stops it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import typer

from llmlab.errors import LabError


def dashboard(runs: Path = typer.Option(None, "--runs", help="the runs folder to browse (default: runs/, or "
                                                             "$LLMLAB_RUNS when set)"),
              host: str = typer.Option("127.0.0.1", "--host", help="0.0.0.0 to reach it from other machines"),
              port: int = typer.Option(8501, "--port")) -> None:
    """Browse runs/: the tracker, loss and metric curves overlaid across runs, configs, pictures, samples."""
    from llmlab.runs import RUNS_ROOT_ENV, runs_root

    if importlib.util.find_spec("streamlit") is None:
        raise LabError("the dashboard needs Streamlit, which is not installed",
                       hint="pip install 'llmlab[dashboard]'")
    root = runs if runs is not None else runs_root()
    if not root.is_dir():
        raise LabError(f"no runs folder at {root}", hint="train something first, or give --runs DIR")
    print(f"llmlab dashboard on http://{host}:{port} (runs from {root}); Ctrl-C stops it", flush=True)
    try:
        subprocess.run(streamlit_command(host, port), env={**os.environ, RUNS_ROOT_ENV: str(root.resolve())},
                       check=False)
    except KeyboardInterrupt:
        pass


def streamlit_command(host: str, port: int) -> list[str]:
    """`streamlit run app.py` headless (no browser opened, no usage statistics sent)."""
    app = Path(__file__).with_name("app.py")
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
            "--server.address", host, "--server.port", str(port), "--browser.gatherUsageStats", "false"]


def register(root: typer.Typer) -> None:
    """`llmlab dashboard`: one command, not a group."""
    root.command("dashboard")(dashboard)
