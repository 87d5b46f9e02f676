"""`TrainConfig`: every knob of the shared training loop, as one dataclass with `--set key=value` overrides.

Projects keep their presets as dataclasses that hold (or build) a TrainConfig; the resolved config is
written to the run folder's config.json and into every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmlab.errors import LabError
from llmlab.training.tracking import parse_report_to


@dataclass
class TrainConfig:
    # --- how long
    # optimizer steps; also the end of the LR schedule unless lr_decay_steps
    max_steps: int = 1000
    max_time: float | None = None         # seconds of wall clock; stops early, still evaluates and saves
    # --- batch (per process; global batch = batch_size * grad_accum * processes)
    batch_size: int = 32
    grad_accum: int = 1
    # --- optimizer: AdamW, decay on matrices only (weights of Linear/Embedding), fused on CUDA
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    lr_decay_steps: int | None = None     # cosine reaches min_lr here (None: max_steps)
    schedule: str = "cosine"              # cosine | linear | constant (after warmup)
    decay_by: str = "steps"               # steps | time: decay over max_time seconds instead (budgeted runs)
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-8
    grad_clip: float = 1.0                # max global grad norm; 0 turns clipping off
    # --- eval, logs, samples, checkpoints (0 = only at the end)
    eval_interval: int = 250
    eval_iters: int = 20
    log_interval: int = 10                # steps between host syncs (loss, grad norm, tokens/s, NaN guard)
    sample_interval: int = 0
    sample_prompts: list[str] = field(default_factory=lambda: ["\n"])
    sample_tokens: int = 200
    sample_temperature: float = 0.8
    sample_top_k: int = 0
    checkpoint_interval: int | None = None  # None: at every eval; 0: only at the end
    save_best: bool = True                # also keep best/ (model only) whenever val loss improves
    # --- machine
    device: str = "auto"                  # auto | cuda | mps | cpu
    mixed_precision: str = "auto"         # auto (bf16 on CUDA when supported, else none) | bf16 | fp16 | no
    compile: bool = False                 # torch.compile the model
    # CPU threads for torch (0: torch's default). Tiny models run faster on
    threads: int = 0
                                          # one: a second thread costs more than it saves, badly so on a busy
                                          # machine
    seed: int = 1337
    # --- tracking
    report_to: str = "tensorboard"        # tensorboard | wandb | tensorboard,wandb | none (see tracking.py)
    wandb_project: str = "llmlab"

    def validate(self) -> TrainConfig:
        positive = {"max_steps": self.max_steps, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "eval_iters": self.eval_iters, "log_interval": self.log_interval}
        for name, value in positive.items():
            if value < 1:
                raise LabError(f"{name} must be >= 1, got {value}", hint=f"--set {name}=<a positive integer>")
        if self.threads < 0:
            raise LabError(f"threads must be >= 0, got {self.threads}", hint="use 0 for torch's default")
        if self.max_time is not None and self.max_time <= 0:
            raise LabError(f"max_time must be > 0 seconds, got {self.max_time}",
                           hint="leave it unset for no limit")
        if not 0.0 <= self.min_lr <= self.lr:
            raise LabError(f"min_lr {self.min_lr} must lie in [0, lr={self.lr}]",
                           hint="lower min_lr or raise lr")
        if self.schedule not in ("cosine", "linear", "constant"):
            raise LabError(f"unknown schedule {self.schedule!r}", hint="use cosine, linear or constant")
        if self.decay_by not in ("steps", "time") or (self.decay_by == "time" and not self.max_time):
            raise LabError(f"decay_by={self.decay_by!r} needs to be 'steps', or 'time' together with "
                           f"max_time",
                           hint="set max_time=SECONDS with decay_by=time")
        if self.mixed_precision not in ("auto", "bf16", "fp16", "no"):
            raise LabError(f"unknown mixed_precision {self.mixed_precision!r}",
                           hint="use auto, bf16, fp16 or no")
        if self.device not in ("auto", "cuda", "mps", "cpu"):
            raise LabError(f"unknown device {self.device!r}", hint="use auto, cuda, mps or cpu")
        parse_report_to(self.report_to)
        if self.eval_interval < 0 or self.sample_interval < 0:
            raise LabError("eval_interval and sample_interval must be >= 0", hint="0 means only at the end")
        return self

    @property
    def decay_steps(self) -> int:
        return self.lr_decay_steps if self.lr_decay_steps is not None else self.max_steps

    @property
    def checkpoint_every(self) -> int:
        return self.eval_interval if self.checkpoint_interval is None else self.checkpoint_interval
