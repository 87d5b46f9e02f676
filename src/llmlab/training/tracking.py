"""Where the training loop's numbers go: metrics.jsonl (always), TensorBoard (by default), W&B (when asked).

Only the main process writes; the others get a sink that does nothing, so the loop never branches.
"""

from __future__ import annotations

import json
from typing import Any

from llmlab.errors import LabError
from llmlab.runs import RunFolder, write_text_atomic


class MetricsSink:
    def __init__(self, run: RunFolder, enabled: bool, tensorboard: bool = True, wandb: bool = False,
                 wandb_project: str = "llmlab", config: dict[str, Any] | None = None):
        self.run, self.enabled = run, enabled
        self._tb = self._wandb = None
        if not enabled:
            return
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(run.file("tensorboard")))
        if wandb:
            try:
                import wandb as wandb_lib
            except ImportError:
                raise LabError("W&B logging was asked for (wandb=true) but the wandb package is not installed",
                               hint="pip install wandb and log in, or drop --set wandb=true") from None
            self._wandb = wandb_lib.init(project=wandb_project, name=run.path.name, dir=str(run.path),
                                         config=config or {}, resume="allow")

    def log(self, row: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        self.run.log(row)
        step = row.get("step", 0)
        numbers = {k: v for k, v in row.items() if k != "step" and isinstance(v, int | float) and v is not None}
        if self._tb is not None:
            for key, value in numbers.items():
                group = "eval" if key.startswith("val_") else prefix
                self._tb.add_scalar(f"{group}/{key}", value, step)
        if self._wandb is not None:
            self._wandb.log(numbers, step=step)

    def text(self, tag: str, text: str, step: int) -> None:
        if not self.enabled:
            return
        with open(self.run.file("samples.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, "prompt": tag, "text": text}) + "\n")
        if self._tb is not None:
            self._tb.add_text(f"samples/{tag!r}", "```\n" + text + "\n```", step)

    def truncate_after(self, step: int) -> None:
        """After a crash, drop rows newer than the checkpoint being resumed so the curves stay clean (through a
        temporary file and a rename: a crash here must not cost the rows that are kept)."""
        if not self.enabled:
            return
        for name in ("metrics.jsonl", "samples.jsonl"):
            path = self.run.file(name)
            if path.exists():
                keep = [line for line in path.read_text(encoding="utf-8").splitlines()
                        if line.strip() and json.loads(line).get("step", 0) <= step]
                write_text_atomic(path, "".join(line + "\n" for line in keep))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
