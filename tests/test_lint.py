"""The code passes the project's ruff configuration (pyproject.toml: pycodestyle with the 110-column limit,
pyflakes, import order, bugbear, pyupgrade), so a line over 110 columns or an unused import fails `make test`
and not only `make lint`."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> str:
    here = Path(sys.executable).with_name("ruff")
    found = str(here) if here.exists() else shutil.which("ruff")
    if not found:
        pytest.skip("ruff is not installed (it comes with the dev extra: pip install -e '.[dev]')")
    return found


def test_ruff_passes_on_the_code_with_line_length_on():
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    ignored = config.split("[tool.ruff.lint]", 1)[1].split("\n[", 1)[0]
    assert "E501" not in ignored, "the 110-column rule (E501) is switched off in pyproject.toml"
    out = subprocess.run([_ruff(), "check", "--no-cache", "src", "tests", "benchmarks", "mutation", "deploy"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
