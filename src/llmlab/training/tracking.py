"""Where the training loop's numbers go: metrics.jsonl (always), plus the trackers named by `report_to`.

    --set report_to=tensorboard          # the default: <run>/tensorboard/ (`tensorboard --logdir <run>`)
    --set report_to=wandb                # Weights & Biases (pip install 'llmlab[wandb]'; WANDB_MODE=offline
                                         # writes <run>/wandb/ without an account, `wandb sync` uploads it)
    --set report_to=tensorboard,wandb    # both;  --set report_to=none: metrics.jsonl only

Every tracker gets the same numbers under the same tag, `train/<key>` or `eval/<key>` (`val_*` keys), so the
curves in TensorBoard, W&B and metrics.jsonl are one set. Only the main process writes; the others get a sink
that does nothing, so the loop never branches.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from llmlab.errors import LabError
from llmlab.runs import RunFolder, write_text_atomic

TRACKERS = ("tensorboard", "wandb")
WANDB_ID_FILE = "wandb-id.txt"      # the W&B run id of this folder, so --resume continues the same W&B run


def parse_report_to(value: str) -> list[str]:
    """'tensorboard,wandb' -> ['tensorboard', 'wandb']; 'none' (or '') -> []; anything else is a LabError."""
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    if names in ([], ["none"]):
        return []
    unknown = [name for name in names if name not in TRACKERS]
    if unknown:
        raise LabError(f"report_to names an unknown tracker: {', '.join(unknown)}",
                       hint="use tensorboard, wandb, tensorboard,wandb or none")
    return list(dict.fromkeys(names))


def metric_tag(key: str, prefix: str = "train") -> str:
    """The tag of a metric in every tracker: 'val_loss' -> 'eval/val_loss', 'lr' -> 'train/lr'."""
    return f"{'eval' if key.startswith('val_') else prefix}/{key}"


class MetricsSink:
    def __init__(self, run: RunFolder, enabled: bool, report_to: str = "tensorboard",
                 wandb_project: str = "llmlab", config: dict[str, Any] | None = None):
        self.run, self.enabled = run, enabled
        self._tb = self._wandb = None
        trackers = parse_report_to(report_to)
        if not enabled:
            return
        if "tensorboard" in trackers:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(run.file("tensorboard")))
        if "wandb" in trackers:
            self._wandb = _start_wandb(run, wandb_project, config or {})

    def log(self, row: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        self.run.log(row)
        step = row.get("step", 0)
        numbers = {metric_tag(k, prefix): v for k, v in row.items()
                   if k != "step" and isinstance(v, int | float) and v is not None}
        if self._tb is not None:
            for tag, value in numbers.items():
                self._tb.add_scalar(tag, value, step)
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
        """After a crash, drop rows newer than the checkpoint being resumed so the curves stay clean (through
        a temporary file and a rename: a crash here must not cost the rows that are kept)."""
        if not self.enabled:
            return
        for name in ("metrics.jsonl", "samples.jsonl"):
            path = self.run.file(name)
            if path.exists():
                keep = [line for line in path.read_text(encoding="utf-8").splitlines()
                        if line.strip() and json.loads(line).get("step", 0) <= step]
                write_text_atomic(path, "".join(line + "\n" for line in keep))

    def close(self) -> None:
        # the loop closes on every way out (end, Ctrl-C, NaN); the second close must be a no-op
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
        self._tb = self._wandb = None


def _start_wandb(run: RunFolder, project: str, config: dict[str, Any]) -> Any:
    """A W&B run in <run>/wandb/, keyed by an id kept in the run folder so a resumed training continues it.
    WANDB_MODE (online, offline, disabled) and WANDB_API_KEY are read by wandb itself."""
    try:
        import wandb
    except ImportError:
        raise LabError("report_to asks for wandb, but the wandb package is not installed",
                       hint="pip install 'llmlab[wandb]' (then `wandb login`, or WANDB_MODE=offline), "
                            "or use --set report_to=tensorboard") from None
    id_file = run.file(WANDB_ID_FILE)
    run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)  # W&B ids: [a-z0-9]
    write_text_atomic(id_file, run_id + "\n")
    return wandb.init(project=project, name=run.path.name, id=run_id, dir=str(run.path), config=config,
                      resume="allow")
