"""DeepSpeed: the ZeRO configs read as accelerate reads them, the trainer refuses DeepSpeed where accelerate
would quietly run DDP instead (the CPU), and ZeRO stage 1 and 2 through accelerate's DeepSpeed path on two
CPU processes against one process with the same global batch (when deepspeed is installed).

deepspeed is an optional extra, kept out of `dev`: once installed, accelerate imports it in every process
that saves a Hugging Face model (about 2 s, and a line on stdout). docs/pretrain.md says what runs here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from llmlab.errors import LabError
from llmlab.training import TrainConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "accelerate"


@pytest.mark.parametrize("stage", [2, 3])
def test_the_zero_configs_read_as_accelerate_reads_them(stage):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    config = load_config_from_file(str(CONFIGS / f"deepspeed_zero{stage}.yaml"))
    assert config.distributed_type == DistributedType.DEEPSPEED and not config.use_cpu
    assert config.deepspeed_config["zero_stage"] == stage
    # the loop accumulates gradients itself (grad_accum): DeepSpeed must not do it a second time
    assert config.deepspeed_config["gradient_accumulation_steps"] == 1
    assert config.deepspeed_config["offload_optimizer_device"] == "none"


def test_the_trainer_refuses_deepspeed_on_the_cpu(monkeypatch):
    from llmlab.training.trainer import make_accelerator

    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")      # what `accelerate launch` sets for DEEPSPEED
    with pytest.raises(LabError, match="DeepSpeed") as err:
        make_accelerator(TrainConfig(device="cpu"))
    assert "ddp.yaml" in err.value.hint


# accelerate (1.15) sets DeepSpeed up for accelerator back-ends only: on a machine without a GPU each process
# thinks it is the only one. This launcher starts DeepSpeed's communication on gloo and gives accelerate's
# state the real ranks, so the loop's DeepSpeed path (one engine of model and optimizer, ZeRO's sharded
# optimizer, its backward, step and clipping, its checkpoints) runs on two CPU processes.
DEEPSPEED_ON_CPU = """
import os, sys
import torch.distributed as dist
import llmlab.training.trainer as trainer

def make_accelerator(cfg):
    import deepspeed
    from accelerate import Accelerator
    from accelerate.state import PartialState
    from accelerate.utils import DeepSpeedPlugin

    deepspeed.init_distributed(dist_backend="gloo", auto_mpi_discovery=False)
    plugin = DeepSpeedPlugin(zero_stage=int(os.environ["ZERO_STAGE"]), gradient_accumulation_steps=1,
                             gradient_clipping=1.0)
    accelerator = Accelerator(deepspeed_plugin=plugin, mixed_precision="no")
    PartialState._shared_state.update(num_processes=dist.get_world_size(), process_index=dist.get_rank(),
                                      local_process_index=int(os.environ["LOCAL_RANK"]))
    return accelerator

trainer.make_accelerator = make_accelerator
from llmlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2])
def test_zero_on_two_cpu_processes_matches_one_process(stage, tmp_path):
    if importlib.util.find_spec("deepspeed") is None:
        pytest.skip("deepspeed is not installed (optional, not in dev): DS_BUILD_OPS=0 pip install "
                    "--no-build-isolation -c constraints.txt '.[deepspeed]'")
    from llmlab.data.demo_shards import stdlib_shards
    from test_pretrain_distributed import assert_same_curves, env, run, train_cmd

    shards = tmp_path / "shards"
    stdlib_shards(shards, max_documents=40, vocab_size=400)
    launcher = tmp_path / "deepspeed_on_cpu.py"
    launcher.write_text(DEEPSPEED_ON_CPU)
    steps = ["--max-steps", "6", "--set", "eval_interval=3", "--set", "batch_size=4"]
    zero = train_cmd(shards, tmp_path / "zero", *steps, processes=2)
    at = zero.index("llmlab.cli")
    zero[at - 1:at + 1] = [str(launcher)]                               # `-m llmlab.cli` -> the launcher
    proc = subprocess.run(zero, capture_output=True, text=True, env={**env(), "ZERO_STAGE": str(stage)},
                          timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run(train_cmd(shards, tmp_path / "one", *steps, "--set", "grad_accum=2"))
    assert_same_curves(tmp_path / "zero", tmp_path / "one")
    summary = json.loads((tmp_path / "zero" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["distributed"] == "DEEPSPEED"
    assert (tmp_path / "zero" / "checkpoint" / "trainer" / "zero_to_fp32.py").exists()   # ZeRO's own state
