"""`llmlab dashboard`: the run catalog on a runs/ folder made here, the Streamlit page through Streamlit's own
AppTest (the chart's data is read back and held to metrics.jsonl), and one load in headless Chromium."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from llmlab.cli import main
from llmlab.dashboard.catalog import curve_rows, find_runs, metric_names, read_rows

TRACKED = "| Char-level LM | ☑ | val loss 1.23 on a corpus made in this test |"


def _write_rows(path, rows, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


@pytest.fixture
def runs(tmp_path):
    """Two runs of two projects, the tracker, and things that are not runs (a checkpoint's files)."""
    from PIL import Image

    root = tmp_path / "runs"
    (root / "roadmap").mkdir(parents=True)
    (root / "roadmap" / "PROGRESS.md").write_text("# llmlab progress\n\n| Project | Status | Notes |\n"
                                                  "|---|---|---|\n" + TRACKED + "\n")
    old = root / "charlm" / "lstm"
    (old / "checkpoint").mkdir(parents=True)
    (old / "checkpoint" / "summary.json").write_text("{}")        # inside a checkpoint: not a run
    _write_rows(old / "metrics.jsonl", [{"step": s, "loss": 3.0 / s, "lr": 0.01} for s in (1, 2, 3, 4)]
                + [{"step": 4, "val_loss": 1.23, "val_ppl": 3.42}])
    (old / "config.json").write_text(json.dumps({"arch": "lstm", "lr": 0.01}))
    (old / "summary.json").write_text(json.dumps({"best_val_loss": 1.23}))
    _write_rows(old / "samples.jsonl", [{"step": 4, "prompt": "\n", "text": "to be or not"}])
    Image.new("RGB", (8, 8), "red").save(old / "loss.png")
    live = root / "pretrain" / "tiny"
    live.mkdir(parents=True)
    # a run still training: its last line is half written
    _write_rows(live / "metrics.jsonl", [{"step": s, "loss": 5.0 - s} for s in (1, 2, 3)],
                tail='{"step": 4, "lo')
    os.utime(old / "metrics.jsonl", (time.time() - 600, time.time() - 600))
    os.utime(old / "summary.json", (time.time() - 600, time.time() - 600))
    return root


def test_catalog_finds_runs_newest_first_and_reads_a_live_file(runs):
    found = find_runs(runs)
    assert [r.name for r in found] == ["pretrain/tiny", "charlm/lstm"]     # the checkpoint's files are no run
    assert [r.project for r in found] == ["pretrain", "charlm"]
    live, old = found
    assert [r["step"] for r in live.metrics()] == [1, 2, 3]              # the torn last line waits
    assert metric_names(found) == ["loss", "val_loss", "lr", "val_ppl"]
    assert curve_rows(found, "val_loss") == [{"run": "charlm/lstm", "step": 4, "value": 1.23}]
    assert [p.name for p in old.pictures()] == ["loss.png"] and old.summary() == {"best_val_loss": 1.23}
    broken = runs / "broken.jsonl"
    broken.write_text('{"step": 1}\n{"ste\n{"step": 3}\n')
    with pytest.raises(json.JSONDecodeError):                           # a torn line in the middle is damage
        read_rows(broken)


def _chart_rows(at) -> list[tuple]:
    """The data of every chart on the page, as Streamlit sends it to the browser (Arrow tables)."""
    import pyarrow as pa

    rows = []
    for element in at.main:
        if getattr(element, "type", None) == "vega_lite_chart":
            for dataset in element.proto.datasets:
                table = pa.ipc.open_stream(dataset.data.data).read_all()
                rows += [(row["run"], row["step"], row["value"]) for row in table.to_pylist()]
    return rows


def test_the_page_shows_the_tracker_and_overlays_the_chosen_runs(runs, monkeypatch):
    pytest.importorskip("streamlit", reason="the dashboard extra: pip install 'llmlab[dashboard]'")
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LLMLAB_RUNS", str(runs))
    app = importlib.util.find_spec("llmlab.dashboard.app").origin     # not imported: importing runs the page
    at = AppTest.from_file(app, default_timeout=60).run()
    assert not at.exception
    assert any(TRACKED in m.value for m in at.markdown)
    assert at.multiselect(key="runs").value == ["pretrain/tiny", "charlm/lstm"]
    assert at.multiselect(key="metrics").value == ["loss", "val_loss"]
    expected = [(r.name, row["step"], row[m]) for m in ("loss", "val_loss")
                for r in find_runs(runs) for row in r.metrics() if m in row]
    assert sorted(_chart_rows(at)) == sorted(expected)
    assert [h.value for h in at.header if "/" in h.value] == ["pretrain/tiny", "charlm/lstm"]
    assert sum(type(e).__name__ == "Image" for e in at.main) == 1      # charlm/lstm's loss.png

    at.multiselect(key="runs").set_value(["charlm/lstm"]).run()        # compare fewer runs
    at.toggle(key="live").set_value(True).run()
    assert not at.exception
    assert {run for run, _, _ in _chart_rows(at)} == {"charlm/lstm"}


def test_the_dashboard_loads_in_a_browser(runs, browser):
    pytest.importorskip("streamlit", reason="the dashboard extra: pip install 'llmlab[dashboard]'")
    from llmlab.dashboard.cli import streamlit_command

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(streamlit_command("127.0.0.1", port),
                              env={**os.environ, "LLMLAB_RUNS": str(runs)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    page = browser.new_page()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "streamlit did not start"
                time.sleep(0.3)
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_text("val loss 1.23 on a corpus made in this test").wait_for(timeout=60_000)
        page.get_by_role("heading", name="charlm/lstm").wait_for(timeout=60_000)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()
        server.terminate()
        server.wait(timeout=30)


def test_the_command_refuses_a_missing_runs_folder(tmp_path, capsys):
    assert main(["dashboard", "--runs", str(tmp_path / "nowhere")]) == 2
    assert "no runs folder" in capsys.readouterr().err
