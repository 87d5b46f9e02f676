"""`llmlab chat ...` end to end on a tiny random model (offline): int8 loading through HFLLM.from_model, the
REPL with real generation, session listing, the quantize report, and the errors for specs int8 cannot take."""

import io
import json

import pytest
import torch

from llmlab.chat.loading import load_chat_llm
from llmlab.chat.quantize import Int8Linear
from llmlab.cli import main
from llmlab.errors import LabError
from llmlab.generation import SamplingParams


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from llmlab.serve.random_model import make_model_dir

    return make_model_dir(tmp_path_factory.mktemp("m"), family="llama", preset="tiny", tokenizer="bpe")


def test_int8_llm_matches_float_llm_greedy(model_dir):
    float_llm, none = load_chat_llm(f"hf:{model_dir}")
    int8_llm, report = load_chat_llm(f"hf:{model_dir}", quantize="int8", kernel="dequant")
    assert none is None and report.layers and report.compression > 1.5
    assert int8_llm.name == f"int8:{model_dir}" and isinstance(int8_llm.model.model.layers[0].mlp.up_proj,
                                                               Int8Linear)
    assert int8_llm.context_window == float_llm.context_window
    params = SamplingParams(temperature=0, max_new_tokens=6)
    messages = [{"role": "user", "content": "The quick brown fox"}]
    a, b = float_llm.chat(messages, params), int8_llm.chat(messages, params)
    assert a.prompt_tokens == b.prompt_tokens and b.completion_tokens == 6
    # random weights give near-ties: most, not necessarily all, greedy tokens agree
    ids = torch.tensor([float_llm.tokenizer.encode("The quick brown fox jumps over the lazy dog")])
    with torch.no_grad():
        agree = (
            (float_llm.model(ids).logits.argmax(-1) == int8_llm.model(ids).logits.argmax(-1)).float().mean()
        )
    assert agree >= 0.9
    assert "".join(int8_llm.chat_stream(messages, params)) == b.text


def test_int8_refuses_gguf_and_unknown_modes(tmp_path):
    with pytest.raises(LabError, match="quantised already"):
        load_chat_llm(f"gguf:{tmp_path / 'x.gguf'}", quantize="int8")
    with pytest.raises(LabError, match="--quantize"):
        load_chat_llm("hf:gpt2", quantize="int4")


def test_int8_names_an_option_transformers_lacks(model_dir, capsys):
    with pytest.raises(LabError, match="the hf: backend has no option 'n_ctx'"):
        load_chat_llm(str(model_dir), quantize="int8", n_ctx=4096)
    with pytest.raises(LabError, match="no dtype option"):
        load_chat_llm(str(model_dir), quantize="int8", dtype="bfloat16")
    assert load_chat_llm(f"hf:{model_dir}", dtype="bfloat16")[0].model.dtype == torch.bfloat16
    assert main(["chat", "repl", "--model", str(model_dir), "--opt", "device=cpu"]) == 2
    assert "--device" in capsys.readouterr().err


def test_repl_list_and_resume(model_dir, runs_dir, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello there\n/remember the sky is green\n/quit\n"))
    assert main(["chat", "repl", "--model", str(model_dir), "--quantize", "int8", "--session", "demo",
                 "--max-tokens", "5", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert "bot> " in out and "context:" in out and "remembered (1 facts)" in out
    assert main(["chat", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["name"] == "demo" and rows[0]["turns"] == 1 and rows[0]["facts"] == 1
    assert rows[0]["model"] == f"int8:{model_dir}"
    monkeypatch.setattr("sys.stdin", io.StringIO("/facts\n"))
    assert main(["chat", "repl", "--model", f"hf:{model_dir}", "--session", "demo"]) == 0
    assert "1. the sky is green" in capsys.readouterr().out
    # --summarize: a long enough chat in a small window makes the model write a summary of what was trimmed
    monkeypatch.setattr("sys.stdin",
                        io.StringIO("".join(f"tell me about item number {i}\n" for i in range(12))))
    assert main(["chat", "repl", "--model", f"hf:{model_dir}", "--session", "sum", "--summarize",
                 "--max-tokens", "12", "--temperature", "0"]) == 0
    assert json.loads((runs_dir / "chat" / "sum" / "session.json").read_text())["summarized"] > 0


def test_quantize_command_writes_summary_and_picture(model_dir, tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["chat", "quantize", "--model", str(model_dir), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (
        summary["layers_quantized"] == 14 and summary["weight_bytes_after"] < summary["weight_bytes_before"]
    )
    assert 0 < summary["relative_logit_error"] < 0.1 and summary["argmax_agreement"] > 0.8
    assert (out / "layer_errors.png").stat().st_size > 0 and (out / "summary.json").exists()
    assert main(["chat", "quantize", "--model", str(model_dir), "--out", str(tmp_path / "all"), "--lm-head",
                 "--embeddings", "--json"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert everything["layers_quantized"] == 16 and everything["kept_float"] == []
    assert everything["weight_bytes_after"] < summary["weight_bytes_after"]
    assert main(["chat", "quantize", "--model", "openai:http://127.0.0.1:1/v1"]) == 2
    # a model that is not there, or an unknown kernel: an error, and no empty run folder left behind
    assert main(["chat", "quantize", "--model", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "none")]) == 2
    assert main(["chat", "quantize", "--model", str(model_dir), "--kernel", "fp4", "--out",
                 str(tmp_path / "k")]) == 2
    assert not (tmp_path / "none").exists() and not (tmp_path / "k").exists()


def test_export_gguf_then_chat_through_gguf_backend(model_dir, tmp_path, runs_dir, monkeypatch, capsys):
    pytest.importorskip("gguf")
    path = tmp_path / "tiny.Q8_0.gguf"
    assert main(["chat", "export-gguf", "--model", str(model_dir), "--out", str(path)]) == 0
    assert path.stat().st_size > 0 and "q8_0" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    assert main(["chat", "repl", "--model", f"gguf:{path}", "--opt", "runtime=transformers",
                 "--max-tokens", "3", "--session", "g"]) == 0
    assert "chatting with gguf:" in capsys.readouterr().out
    assert main(["chat", "repl", "--model", f"gguf:{path}", "--opt", "n_ctx"]) == 2


def test_parse_options():
    from llmlab.llm.registry import parse_options

    assert parse_options(["n_ctx=4096", "temp=0.5", "runtime=transformers", "verbose=True"]) == \
           {"n_ctx": 4096, "temp": 0.5, "runtime": "transformers", "verbose": True}


@pytest.mark.slow
def test_roadmap_step_passes_its_checks(tmp_path):
    from llmlab.chat.roadmap_step import run
    from llmlab.projects import project
    from llmlab.roadmap.runner import StepContext

    summary = run(StepContext(project("chat"), tmp_path / "chat", quick=True))
    assert summary["checks"] and all(summary["checks"].values()), summary["checks"]
    assert all((tmp_path / "chat" / p).stat().st_size > 0 for p in summary["pictures"])
    assert max(r["dropped_messages"] for r in summary["turns"]) > 0
    assert (tmp_path / "lab-model" / "config.json").exists()      # the lab model, beside the step folders
    # Held to the session files it saved, not only to its own checks: the conversation on disk is the one the
    # summary reports, in order, every turn answered once, the memory answer last, the pinned fact kept.
    session = tmp_path / "chat" / "sessions" / "demo"
    messages = [
        json.loads(line) for line in (session / "messages.jsonl").read_text().splitlines() if line.strip()
    ]
    assert [m["role"] for m in messages] == ["user", "assistant"] * (len(messages) // 2)
    users = [m["content"] for m in messages if m["role"] == "user"]
    memory = summary["memory"]
    assert users[0] == f"My locker code is {memory['code']}." and users[-1] == memory["question"]
    assert len(users) == len(summary["turns"]) + 1
    assert messages[-1]["content"].strip() == memory["answer_with_memory"]
    assert (session / "facts.jsonl").read_text().strip()


def test_export_gguf_bad_inputs_are_lab_errors(model_dir, tmp_path, capsys):
    import shutil

    pytest.importorskip("gguf")
    out = str(tmp_path / "x.gguf")
    assert main(["chat", "export-gguf", "--model", str(tmp_path / "nowhere"), "--out", out]) == 2
    assert "no model directory" in capsys.readouterr().err
    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    for f in model_dir.iterdir():
        if f.name == "config.json" or f.suffix == ".safetensors":
            shutil.copy(f, weights_only / f.name)
    assert main(["chat", "export-gguf", "--model", str(weights_only), "--out", out]) == 2
    assert "has no tokenizer" in capsys.readouterr().err


def test_repl_default_answer_length_leaves_room_in_a_small_window(model_dir, runs_dir, monkeypatch, capsys):
    # the tiny model's window is 256 tokens: a fixed 256-token answer budget would refuse every message
    monkeypatch.setattr("sys.stdin", io.StringIO("hello there\n/context\n"))
    assert main(["chat", "repl", "--model", f"hf:{model_dir}", "--session", "small", "--temperature",
                 "0"]) == 0
    out = capsys.readouterr().out
    assert "error" not in out and "(64 kept for the answer)" in out
    messages = [
        json.loads(line) for line in (runs_dir / "chat" / "small" / "messages.jsonl").read_text().splitlines()
    ]
    assert [m["role"] for m in messages] == ["user", "assistant"]
