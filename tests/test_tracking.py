"""`report_to`: the numbers a tiny training sends to TensorBoard and W&B (offline) are those of metrics.jsonl.

Both trackers' files are read back with a reader that knows only their formats (TensorBoard's event files
through its own EventAccumulator; W&B's run-<id>.wandb record log of protobuf Records, read here), so a
tracker that drops, renames or mis-steps a metric fails.
"""

from __future__ import annotations

import json
import struct
import sys
import time

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from llmlab.errors import LabError
from llmlab.runs import RunFolder
from llmlab.tokenizer import CharTokenizer
from llmlab.training import TokenWindows, TrainConfig, Trainer
from llmlab.training.tracking import MetricsSink, parse_report_to

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def _train(run: RunFolder, report_to: str, steps: int = 4) -> list[dict]:
    tok = CharTokenizer.train(TEXT)
    ids = np.array(tok.encode(TEXT), dtype=np.uint16)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=16,
                                       vocab_size=tok.vocab_size, bos_token_id=None, eos_token_id=None))
    cfg = TrainConfig(max_steps=steps, batch_size=4, warmup_steps=1, eval_interval=2, eval_iters=1,
                      log_interval=1, save_best=False, checkpoint_interval=0, report_to=report_to,
                      device="cpu", threads=1, seed=1)
    Trainer(model, cfg, run, TokenWindows(ids[:1500], 8, 4, seed=1), TokenWindows(ids[1500:], 8, 4, seed=2),
            tokenizer=tok).fit()
    return run.metrics()


def _expected(rows: list[dict]) -> dict[tuple[str, int], float]:
    """Every number of metrics.jsonl under the documented tag: eval/<key> for val_* keys, train/<key> else."""
    return {(f"{'eval' if k.startswith('val_') else 'train'}/{k}", row["step"]): float(v)
            for row in rows for k, v in row.items() if k != "step" and isinstance(v, int | float)}


def _wandb_records(path) -> list:
    """The Records of a W&B run file: a LevelDB-style log (a 7-byte ':W&B' header, then 32 KiB blocks of
    records, each a 7-byte header <crc32, length, kind> and a piece of one serialized Record)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, piece, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:                 # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            break
        piece, pos = piece + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):                          # full or last piece: one Record is complete
            records.append(pb.Record.FromString(piece))
            piece = b""
    return records


def _wandb_history(path) -> dict[tuple[str, int], float]:
    """{(key, step): value} of the run's history, once W&B's service has written the run's exit record
    (finish() returns before its writer has flushed the file; the process's exit would flush it)."""
    deadline = time.monotonic() + 60
    records = _wandb_records(path)
    while not any(r.WhichOneof("record_type") == "exit" for r in records):
        assert time.monotonic() < deadline, "W&B never wrote the run's exit record"
        time.sleep(0.2)
        records = _wandb_records(path)
    history = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                if not key.startswith("_"):                 # W&B's own _step, _runtime, _timestamp
                    history[(key, record.history.step.num)] = float(json.loads(item.value_json))
    return history


def test_tensorboard_and_wandb_offline_get_the_numbers_of_metrics_jsonl(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is an optional extra: pip install 'llmlab[wandb]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    run = RunFolder(tmp_path / "run")
    rows = _train(run, "tensorboard,wandb")
    expected = _expected(rows)
    assert {tag for tag, _ in expected} >= {"train/loss", "train/lr", "eval/val_loss"}

    events = EventAccumulator(str(run.path / "tensorboard"))
    events.Reload()
    board = {(tag, e.step): e.value for tag in events.Tags()["scalars"] for e in events.Scalars(tag)}
    assert board.keys() == expected.keys(), sorted(board.keys() ^ expected.keys())
    for key, value in expected.items():                         # TensorBoard keeps float32
        assert board[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key

    (wandb_file,) = (run.path / "wandb").glob("offline-run-*/run-*.wandb")
    history = _wandb_history(wandb_file)
    assert history.keys() == expected.keys(), sorted(history.keys() ^ expected.keys())
    for key, value in expected.items():
        assert history[key] == pytest.approx(value, rel=1e-12), key
    run_id = (run.path / "wandb-id.txt").read_text().strip()
    assert wandb_file.name == f"run-{run_id}.wandb"          # the id a --resume will continue


def test_report_to_none_writes_metrics_jsonl_only(tmp_path):
    run = RunFolder(tmp_path / "run")
    rows = _train(run, "none", steps=2)
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    assert not (run.path / "tensorboard").exists() and not (run.path / "wandb").exists()


def test_report_to_names_are_checked():
    assert parse_report_to("tensorboard") == ["tensorboard"]
    assert parse_report_to(" WandB , tensorboard,wandb") == ["wandb", "tensorboard"]
    assert parse_report_to("none") == parse_report_to("") == []
    with pytest.raises(LabError, match="unknown tracker: mlflow"):
        TrainConfig(report_to="tensorboard,mlflow").validate()


def test_wandb_missing_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)             # as if the extra were not installed
    with pytest.raises(LabError) as err:
        MetricsSink(RunFolder(tmp_path / "run"), enabled=True, report_to="wandb")
    assert "llmlab[wandb]" in err.value.hint
