"""`llmlab tokenizer ...` commands, the pictures and the roadmap step, end to end on python-docs."""

import json

import pytest

from llmlab.cli import main
from llmlab.projects import project
from llmlab.roadmap.runner import StepContext, judge
from llmlab.tokenizer import EOT, BPETokenizer


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    assert main(["tokenizer", "train", "--corpus", "python-docs", "--vocab-size", "700", "--out", str(out),
                 "--json"]) == 0
    return out


def test_train_writes_llmlab_and_hf_files_and_pictures(trained_dir):
    for name in ("llmlab_tokenizer.json", "llmlab_vocab.txt", "tokenizer.json", "tokenizer_config.json",
                 "config.json", "summary.json", "merge_tree.png", "bytes_per_token.png", "token_lengths.png",
                 "merge_counts.png", "tokens.html"):
        assert (trained_dir / name).exists(), name
    summary = json.loads((trained_dir / "summary.json").read_text())
    assert summary["vocab_size"] == 700 and summary["special_tokens"] == {EOT: 699}
    curve = summary["bytes_per_token_by_vocab"]
    assert curve[0] == [256, 1.0] and curve[-1][1] > 2.0 and curve[-1][0] == 699
    assert all(a[1] <= b[1] for a, b in zip(curve, curve[1:], strict=False))   # more merges, fewer tokens
    page = (trained_dir / "tokens.html").read_text()
    assert page.count('class="t c') > 100 and "<script" not in page and "http" not in page


def test_encode_decode_viz_commands(trained_dir, capsys, tmp_path):
    text = "def naïve(x):\n    return x  # 😀"
    assert main(["tokenizer", "encode", text, "-t", str(trained_dir), "--json"]) == 0
    ids = json.loads(capsys.readouterr().out)["ids"]
    assert ids == BPETokenizer.load(trained_dir).encode(text)
    assert main(["tokenizer", "decode", *map(str, ids), "-t", str(trained_dir)]) == 0
    assert capsys.readouterr().out == text + "\n"
    assert main(["tokenizer", "encode", f"a{EOT}", "-t", str(trained_dir)]) == 2
    assert "--allow-special" in capsys.readouterr().err
    assert main(["tokenizer", "encode", f"a{EOT}", "-t", str(trained_dir), "--allow-special"]) == 0
    assert capsys.readouterr().out.split()[-1] == "699"
    html = tmp_path / "v.html"
    assert main(["tokenizer", "viz", text, "-t", str(trained_dir), "--html", str(html)]) == 0
    assert "tokens" in capsys.readouterr().out and html.exists()


def test_pieces_group_tokens_that_split_a_character(trained_dir):
    from llmlab.tokenizer.pictures import token_pieces

    tok = BPETokenizer.load(trained_dir)
    ids = tok.encode("😀 x")
    pieces = token_pieces(tok, ids)
    assert "".join(p for p, _ in pieces) == "😀 x"
    assert pieces[0][0] == "😀" and len(pieces[0][1]) > 1      # 4 bytes, not one learned token


def test_compare_command_reports_parity(capsys, tmp_path):
    assert main(["tokenizer", "compare", "--corpus", "python-docs", "--vocab-size", "500", "--repeats", "1",
                 "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["vocab_difference"]["only_llmlab"] == report["vocab_difference"]["only_hf"] == 0
    assert all(report["parity_held_out"].values())
    assert report["held_out_bytes_per_token"]["llmlab"] == report["held_out_bytes_per_token"]["hf"]
    assert set(report["encode_mb_per_s"]) == {"llmlab_cold", "llmlab_warm", "tiktoken", "hf"}


def test_bad_inputs_fail_with_hints(tmp_path, capsys):
    assert main(["tokenizer", "encode", "x", "-t", str(tmp_path)]) == 2
    assert "llmlab_tokenizer.json is missing" in capsys.readouterr().err
    assert main(["tokenizer", "train", "--vocab-size", "10", "--out", str(tmp_path / "t")]) == 2
    assert "too small" in capsys.readouterr().err


@pytest.mark.slow
def test_roadmap_step_quick_passes_its_checks(tmp_path):
    from llmlab.tokenizer.roadmap_step import run

    summary = run(StepContext(project("tokenizer"), tmp_path, quick=True))
    assert judge(summary) == "passed", summary["checks"]
    assert summary["vocab_difference_vs_hf"] == 0
    for picture in summary["pictures"]:
        assert (tmp_path / picture).exists()
    # the compression it reports, recomputed with transformers' tokenizer loaded from the folder it wrote
    from transformers import AutoTokenizer

    from llmlab.data import load_corpus

    hf = AutoTokenizer.from_pretrained(tmp_path / "tokenizer")
    assert len(hf) == summary["vocab_size"]
    val = [d.text for d in load_corpus("python-docs").split()[1].documents]
    n_tokens = sum(len(ids) for ids in hf(val, add_special_tokens=False).input_ids)
    assert sum(len(t.encode("utf-8")) for t in val) / n_tokens == pytest.approx(
        summary["val_bytes_per_token"], abs=1e-4
    )
