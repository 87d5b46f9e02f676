"""`llmlab serve`, `llmlab bench serve` and the roadmap step, run as a user would."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from llmlab.cli import main
from llmlab.projects import project
from llmlab.roadmap.runner import StepContext
from llmlab.serve.random_model import make_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("cli-gpt2"), family="gpt2", n_layer=1, n_embd=32)


def test_help_lists_serve_and_bench(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "serve" in out and "bench" in out
    assert main(["bench", "--help"]) == 0
    assert "serve" in capsys.readouterr().out


def test_bench_serve_starts_a_server_measures_it_and_writes_the_run(model_dir, tmp_path, capsys):
    code = main(["bench", "serve", "--model", str(model_dir), "--device", "cpu", "--num-prompts", "12",
                 "--input-len", "8", "--output-len", "5", "--prefix-len", "16", "--request-rate", "200",
                 "--max-concurrency", "4", "--out", str(tmp_path / "run"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["completed"] == 12 and summary["failed"] == 0 and summary["output_tokens"] == 60
    for name in ("ttft", "tpot", "itl", "e2e"):
        assert 0 < summary[f"{name}_median_ms"] <= summary[f"{name}_p99_ms"]
    # the shared 16-token prefix: 4 full blocks after the first
    assert summary["prefix_hit_rate"] > 0.2
    for f in ("summary.json", "config.json", "requests.jsonl", "latency_cdf.png"):
        assert (tmp_path / "run" / f).exists(), f


def test_bench_serve_with_supplied_prompts(model_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The quick brown fox\nPack my box\n")
    assert main(["bench", "serve", "--model", str(model_dir), "--device", "cpu", "--prompts", str(prompts),
                 "--num-prompts", "4", "--output-len", "3", "--out", str(tmp_path / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["completed"] == 4


def test_bench_serve_fails_when_requests_fail_and_its_default_lengths_fit_the_context(model_dir, tmp_path,
                                                                                      capsys):
    # 300 prompt tokens cannot fit the model's 256-token context: every request is refused
    code = main(["bench", "serve", "--model", str(model_dir), "--device", "cpu", "--num-prompts", "2",
                 "--input-len", "300", "--output-len", "4", "--out", str(tmp_path / "bad"), "--json"])
    captured = capsys.readouterr()
    assert code != 0 and json.loads(captured.out)["failed"] == 2
    assert "2 of 2 requests failed" in captured.err and "context is 256 tokens" in captured.err
    assert (tmp_path / "bad" / "requests.jsonl").exists()         # the run is still written
    # lengths left unset shrink to fit beside a 100-token shared prefix (128 + 128 would not)
    code = main(["bench", "serve", "--model", str(model_dir), "--device", "cpu", "--num-prompts", "2",
                 "--prefix-len", "100", "--out", str(tmp_path / "good"), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["completed"] == 2, summary
    assert 100 + summary["input_len"] + summary["output_len"] <= 256
    assert summary["output_tokens"] == 2 * summary["output_len"]


def test_cli_errors_are_one_line_with_a_hint(capsys, tmp_path):
    assert main(["bench", "serve", "--num-prompts", "2"]) == 2
    assert "nothing to measure" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "not a Hugging Face model directory" in err and "hint:" in err
    assert main(["bench", "serve", "--url", "http://127.0.0.1:9", "--num-prompts", "1"]) == 2
    assert "no OpenAI-compatible server answers" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_llmlab_serve_runs_answers_and_shuts_down_gracefully(model_dir):
    port = _free_port()
    env = {**os.environ, "LLMLAB_API_KEY": "k"}
    proc = subprocess.Popen([sys.executable, "-m", "llmlab.cli", "serve", "--model", str(model_dir), "--port",
                             str(port), "--device", "cpu", "--log-level", "info"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stderr.read() if proc.poll() else "slow"
            )
            time.sleep(0.2)
        r = httpx.post(url + "/v1/completions", headers={"Authorization": "Bearer k"},
                       json={"model": model_dir.name, "prompt": "The", "max_tokens": 4})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    # uvicorn finishes its shutdown, then re-raises the SIGTERM it caught into run_server's no-op handler:
    # a graceful stop exits 0
    assert proc.returncode == 0, err
    assert "Application shutdown complete" in err
    assert "llmlab serve:" in err and "API key required" in err


@pytest.mark.slow
def test_roadmap_step_passes_its_checks(tmp_path):
    summary = __import__("llmlab.serve.roadmap_step", fromlist=["run"]).run(
        StepContext(project("serve"), tmp_path, quick=True))
    assert summary["checks"] and all(summary["checks"].values()), summary["checks"]
    assert (tmp_path / "latency_cdf.png").exists() and summary["prefix_hit_rate"] > 0.3
    # the repeated prompt reused every full KV block but the one holding its last token, counted here with
    # transformers' tokenizer from the model folder and the block size in the saved engine config
    from transformers import AutoTokenizer

    block = json.loads((tmp_path / "config.json").read_text())["block_size"]
    n_prompt = len(AutoTokenizer.from_pretrained(tmp_path / "model")(
        "The Python language reference describes").input_ids)         # the step's prompt
    assert n_prompt > 2 * block and summary["cached_tokens_on_repeat"] == (n_prompt - 1) // block * block
