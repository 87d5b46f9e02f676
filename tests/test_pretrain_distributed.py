"""llmlab.pretrain across processes on the CPU: DDP and FSDP2 (2 processes, gloo, launched by torchrun)
against one process with the same global batch, and a run killed with SIGKILL then resumed against one
never stopped.

Every run is a real `llmlab pretrain train` subprocess with one thread each (same arithmetic every time),
on a free port, under a timeout.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

COMMON = ["--preset", "gpt2-tiny", "--set", "n_embd=32", "--set", "block_size=64", "--set", "log_interval=1",
          "--set", "eval_iters=4", "--set", "report_to=none", "--set", "sample_interval=0", "--json"]


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "LLMLAB_NO_PROGRESS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_cmd(data, out, *args, processes: int = 1) -> list[str]:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                 "--master_addr", "127.0.0.1", "--master_port", str(free_port())]
                if processes > 1 else [sys.executable])
    return [*launcher, "-m", "llmlab.cli", "pretrain", "train", "--data", str(data), "--out", str(out),
            *COMMON, *args]


def run(cmd, timeout=180) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]


def metrics(out) -> tuple[dict[int, float], dict[int, float]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return ({r["step"]: r["loss"] for r in rows if "loss" in r},
            {r["step"]: r["val_loss"] for r in rows if "val_loss" in r})


def assert_same_curves(many, one) -> None:
    """The run in `many` logged the same 6 training losses and the same validation losses at steps 3 and 6 as
    the one-process run in `one`, up to float32 summation order."""
    (many_train, many_val), (one_train, one_val) = metrics(many), metrics(one)
    assert sorted(many_train) == sorted(one_train) == list(range(1, 7)) and sorted(many_val) == [3, 6]
    for step in one_train:
        assert many_train[step] == pytest.approx(one_train[step], abs=1e-5), step
    for step in one_val:
        assert many_val[step] == pytest.approx(one_val[step], abs=1e-5), step


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from llmlab.data.demo_shards import stdlib_shards

    out = tmp_path_factory.mktemp("shards")
    stdlib_shards(out, max_documents=40, vocab_size=400)
    return out


def test_ddp_on_two_processes_matches_one_process_with_the_same_global_batch(shards, tmp_path):
    """2 processes x 4 rows (gradients all-reduced) against 1 process x 4 rows x 2 accumulation steps: both
    see the same 8 windows per step, so the losses may differ only by float32 summation order."""
    steps = ["--max-steps", "6", "--set", "eval_interval=3", "--set", "batch_size=4"]
    run(train_cmd(shards, tmp_path / "ddp", *steps, processes=2))
    run(train_cmd(shards, tmp_path / "one", *steps, "--set", "grad_accum=2"))
    assert_same_curves(tmp_path / "ddp", tmp_path / "one")
    one_train, _ = metrics(tmp_path / "one")
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["distributed"] == "MULTI_CPU"
    assert one_train[6] < one_train[1]     # and it trains


# accelerate (1.15) turns FSDP on only for accelerator back-ends, never for CPU processes. This launcher
# sets its state to FSDP2 after the Accelerator is built, so the loop's FSDP path — fully_shard over the
# blocks, model and optimizer prepared together, sharded optimizer state in checkpoints — runs on gloo.
FSDP_ON_CPU = """
import sys
import llmlab.training.trainer as trainer
from accelerate import Accelerator
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

def make_accelerator(cfg):
    accelerator = Accelerator(cpu=True, mixed_precision="no")
    for shared in (AcceleratorState._shared_state, PartialState._shared_state):
        shared["distributed_type"] = DistributedType.FSDP
    AcceleratorState._shared_state["fsdp_plugin"] = FullyShardedDataParallelPlugin(
        fsdp_version=2, auto_wrap_policy="transformer_based_wrap", state_dict_type="SHARDED_STATE_DICT")
    return accelerator

trainer.make_accelerator = make_accelerator
from llmlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_fsdp2_on_two_cpu_processes_matches_one_process_and_resumes(shards, tmp_path):
    from transformers import AutoModelForCausalLM

    launcher = tmp_path / "fsdp_on_cpu.py"
    launcher.write_text(FSDP_ON_CPU)
    steps = ["--set", "eval_interval=3", "--set", "batch_size=4", "--set", "lr_decay_steps=9"]
    fsdp = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
            "127.0.0.1",
            "--master_port", str(free_port()), str(launcher), "pretrain", "train", "--data", str(shards),
            "--out", str(tmp_path / "fsdp"), *COMMON, *steps]
    run([*fsdp, "--max-steps", "6"])
    fsdp[fsdp.index("--master_port") + 1] = str(free_port())
    run([*fsdp, "--max-steps", "9", "--resume"])
    run(train_cmd(shards, tmp_path / "one", *steps, "--max-steps", "9", "--set", "grad_accum=2"))
    fsdp_train, fsdp_val = metrics(tmp_path / "fsdp")
    one_train, one_val = metrics(tmp_path / "one")
    summary = json.loads((tmp_path / "fsdp" / "summary.json").read_text())
    assert summary["distributed"] == "FSDP" and summary["processes"] == 2 and summary["resumed_from"] == 6
    assert sorted(fsdp_train) == list(range(1, 10)) and sorted(fsdp_val) == [3, 6, 9]
    assert fsdp_train == pytest.approx(one_train, abs=1e-5)
    assert fsdp_val == pytest.approx(one_val, abs=1e-5)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "fsdp" / "checkpoint")   # gathered, not sharded
    assert model.config.n_embd == 32


def test_resume_after_sigkill_reproduces_the_uninterrupted_losses(shards, tmp_path):
    steps = ["--max-steps", "30", "--set", "eval_interval=10", "--set", "checkpoint_interval=4",
             "--set", "batch_size=8", "--seed", "5"]
    run(train_cmd(shards, tmp_path / "straight", *steps))
    reference, reference_val = metrics(tmp_path / "straight")

    out = tmp_path / "killed"
    proc = subprocess.Popen(train_cmd(shards, out, *steps), env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    state = out / "checkpoint" / "trainer_state.json"
    deadline = time.monotonic() + 120
    try:
        # kill once a checkpoint past step 8 exists: well before the end, wherever the writes are
        while time.monotonic() < deadline and proc.poll() is None:
            if state.exists() and json.loads(state.read_text()).get("step", 0) >= 8:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    killed_at = max(metrics(out)[0])
    assert killed_at < 30

    run(train_cmd(shards, out, *steps, "--resume"))
    resumed, resumed_val = metrics(out)
    summary = json.loads((out / "summary.json").read_text())
    assert 8 <= summary["resumed_from"] < 30 and summary["steps"] == 30
    assert sorted(resumed) == list(range(1, 31))             # rows past the checkpoint were replaced
    assert resumed == pytest.approx(reference, abs=1e-6)     # bit-for-bit up to JSON float printing
    assert resumed_val == pytest.approx(reference_val, abs=1e-6)
