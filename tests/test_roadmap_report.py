"""report.html in a real headless browser, built from synthetic step results (no roadmap run): it loads, has a
summary and contents, every link resolves, every picture loads, and figures are rounded tables, not JSON."""

import re
import shutil
import urllib.parse
from pathlib import Path

from llmlab.plots import plot_curves
from llmlab.projects import project
from llmlab.roadmap.report import write_report
from llmlab.roadmap.runner import FAILED, NOT_BUILT, PASSED, StepResult
from llmlab.roadmap.tables import markdown_rows, number, render
from llmlab.roadmap.tracker import ExtraTable, write_progress

LEARNER = ("| Project | Status | Notes |\n|---|---|---|\n"
           "| BPE Tokenizer | ☑ | 3 of 3 exercises \\| graded |\n| Char-level LM | ☐ | 1 of 4 |\n")


def _steps(out_root: Path) -> list[StepResult]:
    """Step folders and results shaped like the real steps' (tokenizer, attention, charlm, finetune, rag)."""
    for folder in ("tokenizer/tokenizer", "attention/show", "charlm/gru"):
        (out_root / folder).mkdir(parents=True)
    png = plot_curves({"train": ([0, 1, 2], [3.0, 2.0, 1.5])}, out_root / "charlm/gru/loss.png")
    shutil.copy(png, out_root / "tokenizer/tokenizer/merges.png")
    shutil.copy(png, out_root / "attention/show/heads.png")
    (out_root / "tokenizer/tokenizer/tokens.html").write_text("<html><body>tokens</body></html>")
    (out_root / "attention/show/attention.html").write_text("<html><body>heads</body></html>")
    tokenizer = StepResult(project("tokenizer"), PASSED, 12.3, {
        "checks": {"lossless": True}, "headline": "python-docs → 3000 tokens: 3.91 bytes/token",
        "pictures": ["tokenizer/merges.png", "tokenizer/tokens.html"], "vocab_size": 3000,
        "val_bytes_per_token": 3.912345678901234}, finished="2025-01-02 10:00", mode="quick")
    attention = StepResult(project("attention"), PASSED, 30.1, {
        "checks": {"rows_sum_to_one": True}, "headline": "induction head L1H2 0.91",
        "model": {"name": "toy 2-layer GPT-2", "params": 52_096},
        "pictures": ["show/heads.png"], "html": "show/attention.html",
        "best_induction_head": {"layer": 1, "head": 2, "score": 0.9123456789012345}},
        finished="2025-01-01 09:30", mode="quick", earlier=True)
    charlm = StepResult(project("charlm"), PASSED, 44.0, {
        "checks": {"rnn_learned": True}, "headline": "val loss rnn 1.87 · gru 1.79",
        "model": [{"name": "rnn", "params": 21_184}, {"name": "gru", "params": 61_632}],
        "pictures": ["gru/loss.png"],
        "architectures": {"rnn": {"best_val_loss": 1.8734216345678901, "params": 21184,
                                  "tokens_per_s": 51234.56789},
                          "gru": {"best_val_loss": 1.7912345678901234, "params": 61632,
                                  "tokens_per_s": 20123.4567}},
        "decoding": [{"strategy": "greedy", "perplexity": 1.2345678901234567, "text": "The the the"},
                     {"strategy": "beam", "perplexity": 1.1111111111111112, "text": "The value"}],
        "uniform_loss": 4.61512051684126})
    finetune = StepResult(project("finetune"), FAILED, 5.0, {"model": {"name": "gpt2-tiny base",
                                                                       "params": 165_632}},
                          "RuntimeError: exploded in <setup>")
    rag = StepResult(project("rag"), PASSED, 60.0, {
        "checks": {"faiss_flat_equals_brute_force": True}, "headline": "hybrid 0.61/0.52",
        "metrics": {"dense": {"recall@5": 0.5714285714285714, "mrr": 0.4523809523809524},
                    "bm25": {"recall@5": 0.5, "mrr": 0.41666666666666663}},
        "qa": {"prompt_tokens": 812, "sources": 8, "answer": "x" * 300}})
    return [tokenizer, attention, charlm, finetune, rag, StepResult(project("serve"), NOT_BUILT)]


def _local_path(url: str) -> Path:
    return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))


def test_report_navigates_links_resolve_and_pictures_load(browser, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out_root = Path("runs/roadmap")           # relative, as `llmlab roadmap` writes it by default
    results = _steps(out_root)
    report = write_report(results, out_root / "report.html", out_root, "quick",
                          extra=[ExtraTable("Your tracker", LEARNER)])

    page = browser.new_page()
    page.goto(report.resolve().as_uri())
    assert page.title() == "llmlab roadmap"

    # a summary table at the top: one row per project, each linking to its section
    rows = page.locator("#summary tbody tr")
    assert rows.count() == len(results)
    assert page.locator("#summary thead th").all_inner_texts()[:5] == [
        "project", "status", "model", "headline figure", "time"]
    first_rows = "\n".join(rows.all_inner_texts())
    assert "toy 2-layer GPT-2, 52.1k params" in first_rows and "2025-01-01 09:30" in first_rows
    # the contents list every project and the extra table
    contents = page.locator("#contents a").all_inner_texts()
    assert any("Char-level LM" in c for c in contents) and "Your tracker" in contents

    # every link resolves: an anchor to an element of the page, a file to a file that exists
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => [e.getAttribute('href'), e.href])")
    linked = set()
    for raw, absolute in hrefs:
        if raw.startswith("#"):
            assert page.locator(f"[id='{raw[1:]}']").count() == 1, raw
        else:
            assert absolute.startswith("file://"), absolute
            target = _local_path(absolute)
            assert target.is_file(), f"{raw} -> {target}"
            linked.add(target.resolve())
    # every interactive page in the step folders is linked (tokens.html, attention.html)
    pages = {p.resolve() for p in out_root.rglob("*.html") if p.name != "report.html"}
    assert pages and pages <= linked

    # every picture loads
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.alt])")
    assert len(images) == 3
    assert all(complete and width > 0 for complete, width, _ in images), images

    # figures are rounded tables: records as rows, no JSON, no 16-digit floats
    charlm = page.locator("#charlm")
    assert charlm.locator("table.records").count() >= 2          # architectures and decoding
    text = charlm.inner_text()
    assert "1.873" in text and "51,235" in text and "1.8734216" not in text
    body = page.locator("body").inner_text()
    assert not re.search(r"\d\.\d{6,}", body), re.search(r"\d\.\d{6,}", body)
    assert '{"' not in body and "[{" not in body
    assert "exploded in <setup>" in page.locator("#finetune").inner_text()

    # the learner's table is its own section, its cells unescaped
    learner = page.locator("section", has=page.locator("h2", has_text="Your tracker"))
    assert "3 of 3 exercises | graded" in learner.locator("td").all_inner_texts()
    page.close()


def test_progress_shows_an_extra_table_beside_the_labs(tmp_path):
    results = _steps(tmp_path)
    text = write_progress(results, tmp_path / "PROGRESS.md", "quick",
                          extra=[ExtraTable("Your tracker", LEARNER)]).read_text()
    lab, _, learner = text.partition("## Your tracker")
    assert "| BPE Tokenizer | ☑ |" in lab and "3 of 3 exercises \\| graded" in learner
    assert "models: rnn, 21.2k params; gru, 61.6k params" in lab
    assert "[earlier quick run, 2025-01-01 09:30]" in lab
    assert "FAILED: RuntimeError: exploded in <setup> — model: gpt2-tiny base, 166k params" in lab


def test_tables_round_and_take_the_shape_of_the_data():
    assert [number(x) for x in (0.12345678901, 51234.56789, 2.3456e-07, 21184, False)] == [
        "0.1235", "51,235", "2.35e-07", "21,184", "✘"]
    records = render({"rnn": {"loss": 1.87342, "params": 21184}, "gru": {"loss": 1.79123, "params": 61632}})
    assert records.count("<tr>") == 3 and "1.873" in records and "<th>loss</th>" in records
    pairs = render({"max_abs_diff": {"forward": 1.234567e-07}, "layers": ["c_attn", "c_fc"]})
    assert "class='pairs'" in pairs and "1.23e-07" in pairs and "c_attn, c_fc" in pairs
    header, rows, other = markdown_rows("Some text\n" + LEARNER)
    assert header == ["Project", "Status", "Notes"] and rows[0][2] == "3 of 3 exercises | graded"
    assert other == ["Some text"] and len(rows) == 2
