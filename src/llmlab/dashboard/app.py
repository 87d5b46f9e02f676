"""The lab dashboard, a Streamlit script: the tracker, then chosen runs' curves overlaid, then each run's
config, summary, pictures and samples.

    llmlab dashboard                      # or: LLMLAB_RUNS=runs streamlit run src/llmlab/dashboard/app.py

It reads the folder of $LLMLAB_RUNS (default runs/) afresh on every rerun, so "Live refresh" (a fragment
that reruns every few seconds) follows a run while it trains. It only reads: nothing here writes into runs/.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llmlab.dashboard.catalog import RunEntry, curve_rows, find_runs, metric_names, tracker_text
from llmlab.runs import runs_root

SHOWN_BY_DEFAULT = 3          # runs ticked when the page opens: the newest with curves
SAMPLES_SHOWN = 20            # newest samples per run

st.set_page_config(page_title="llmlab dashboard", layout="wide")
root = runs_root()
st.title("llmlab dashboard")
st.caption(f"runs from {root.resolve()}")

tracker = tracker_text(root)
with st.expander("Tracker (llmlab roadmap)", expanded=True):
    st.markdown(tracker if tracker else "No tracker yet: `llmlab roadmap` writes runs/roadmap/PROGRESS.md.")

runs = find_runs(root)
if not runs:
    st.info(f"No runs in {root}: train something (`llmlab charlm train`) or point LLMLAB_RUNS at a runs "
            "folder.")
    st.stop()

by_name = {run.name: run for run in runs}
projects = sorted({run.project for run in runs})
with st.sidebar:
    chosen_projects = st.multiselect("Projects", projects, default=projects, key="projects")
    names = [run.name for run in runs if run.project in chosen_projects]
    with_curves = [n for n in names if (by_name[n].path / "metrics.jsonl").exists()]
    chosen = st.multiselect("Runs to compare", names, default=with_curves[:SHOWN_BY_DEFAULT], key="runs")
    live = st.toggle("Live refresh", value=False, key="live")
    every = st.number_input("every (seconds)", min_value=1, max_value=600, value=5, key="every")

selected: list[RunEntry] = [by_name[n] for n in chosen]


@st.fragment(run_every=every if live else None)
def curves() -> None:
    """The overlaid curves; with Live refresh, this part alone reruns and rereads metrics.jsonl."""
    metrics = metric_names(selected)
    if not metrics:
        st.info("The chosen runs have no metrics.jsonl yet.")
        return
    default = [m for m in ("loss", "val_loss") if m in metrics] or metrics[:1]
    shown = st.multiselect("Metrics", metrics, default=default, key="metrics")
    for metric in shown:
        data = pd.DataFrame(curve_rows(selected, metric))
        st.subheader(metric)
        st.line_chart(data, x="step", y="value", color="run")


st.header("Curves")
if selected:
    curves()
else:
    st.info("Choose runs in the sidebar to compare their curves.")

for run in selected:
    st.header(run.name)
    summary_tab, config_tab, pictures_tab, samples_tab = st.tabs(["Summary", "Config", "Pictures", "Samples"])
    with summary_tab:
        st.json(run.summary() or {"summary.json": "not written yet (the run is training or stopped early)"})
    with config_tab:
        st.json(run.config() or {})
    with pictures_tab:
        pictures = run.pictures()
        for picture in pictures:
            st.image(str(picture), caption=picture.name)
        for page in run.pages():
            st.markdown(f"`{page}` (self-contained HTML: open it in a browser)")
        if not pictures and not run.pages():
            st.write("no pictures")
    with samples_tab:
        samples = run.samples()[-SAMPLES_SHOWN:]
        if samples:
            st.dataframe(pd.DataFrame(samples), hide_index=True)
        else:
            st.write("no samples")
