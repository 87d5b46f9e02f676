"""The one causal-LM training loop of llmlab (the char LM and the 124M pretraining are presets of it).

    trainer = Trainer(model, TrainConfig(max_steps=2000), RunFolder.create("charlm"), train_data, val_data,
                      tokenizer=tok)
    summary = trainer.fit(resume=True)   # {"steps", "best_val_loss", "final_val_loss", "train_seconds", ...}

One process on a CPU, or many under `accelerate launch` / `torchrun` (DDP, FSDP, DeepSpeed through
accelerate's config). Each optimizer step: grad_accum micro-batches -> clip -> AdamW with lr(step).
Ctrl-C finishes the step under way, saves a checkpoint, prints the command that resumes it and raises
KeyboardInterrupt (the CLI exits 130); a second Ctrl-C stops at once.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from llmlab.errors import LabError
from llmlab.generation.steppers import logits_of
from llmlab.progress import progress_bar
from llmlab.runs import RunFolder
from llmlab.training import checkpoint as ckpt
from llmlab.training.batches import BatchSource
from llmlab.training.config import TrainConfig
from llmlab.training.flops import count_params, device_peak_flops, flops_per_token
from llmlab.training.schedule import lr_at
from llmlab.training.tracking import MetricsSink

LossFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def causal_lm_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy; x, y: (B, T) with y = x shifted left by one."""
    logits = logits_of(model(x))                                    # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))


def hf_causal_lm_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # use_cache=False: training never reads the KV cache, so do not build one
    logits = model(input_ids=x, use_cache=False).logits             # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))


def make_accelerator(cfg: TrainConfig):
    """Accelerator for the requested device, bf16 autocast on GPUs that have it, TF32 matmuls on CUDA."""
    from accelerate import Accelerator

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise LabError("device=cuda was asked for but no CUDA GPU is visible",
                       hint="use --set device=auto or cpu")
    if cfg.device == "mps" and not torch.backends.mps.is_available():
        raise LabError("device=mps was asked for but Metal is not available",
                       hint="use --set device=auto or cpu")
    cpu = cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available()
                                  and not torch.backends.mps.is_available())
    precision = cfg.mixed_precision
    if precision == "auto":
        precision = (
            "bf16" if (not cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported()) else "no"
        )
    if cpu and os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        # accelerate would quietly run DDP instead (docs/pretrain.md: DeepSpeed on a CPU-only machine)
        raise LabError("the accelerate config asks for DeepSpeed, but this run is on the CPU, where "
                       "accelerate does not use DeepSpeed",
                       hint="DeepSpeed needs CUDA GPUs; on CPUs use configs/accelerate/ddp.yaml or torchrun")
    if torch.cuda.is_available() and not cpu:
        torch.backends.cuda.matmul.allow_tf32 = True   # fp32 matmuls that remain run on tensor cores
        torch.backends.cudnn.allow_tf32 = True
    return Accelerator(cpu=cpu, mixed_precision=precision)


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices (Linear/Embedding weights) only, never on biases or norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # one fused kernel for the whole update (CUDA, and CPU since torch 2.4); else one op per tensor list
    extra = {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, **extra)


class Trainer:
    def __init__(self, model: torch.nn.Module, config: TrainConfig, run: RunFolder, train_data: BatchSource,
                 val_data: Any = None, tokenizer: Any = None, *, loss_fn: LossFn | None = None,
                 sample_fn: Callable[[torch.nn.Module], dict[str, str]] | None = None,
                 flops_per_token: float | None = None, run_config: Any = None, description: str = "train",
                 resume_command: str | None = None):
        self.raw_model, self.cfg, self.run = model, config.validate(), run
        self.train_data, self.val_data, self.tokenizer = train_data, val_data, tokenizer
        self.loss_fn = loss_fn or (hf_causal_lm_loss if ckpt.is_hf_model(model) else causal_lm_loss)
        self.sample_fn = sample_fn
        self.flops_per_token = flops_per_token
        self.run_config = run_config if run_config is not None else config
        self.description = description
        self.resume_command = resume_command   # printed after Ctrl-C (the entry point knows its command line)
        self.step, self.tokens, self.elapsed = 0, 0, 0.0
        self.best_val_loss: float | None = None
        self.last_val_loss: float | None = None
        self.stopped_by = "max_steps"
        self._evaluated_at = -1
        self._interrupted = False

    # ---------------------------------------------------------------- setup
    def _setup(self) -> None:
        from accelerate.utils import DistributedType, set_seed

        cfg = self.cfg
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.accelerator = acc = make_accelerator(cfg)
        set_seed(cfg.seed, device_specific=True)        # each process its own dropout stream
        self.sharded = acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
        deepspeed = acc.distributed_type == DistributedType.DEEPSPEED
        if deepspeed:
            # no DataLoader goes through accelerate here, so DeepSpeed is told the per-process batch itself
            acc.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = cfg.batch_size
        if getattr(acc, "is_fsdp2", False) or deepspeed:
            # FSDP2 swaps each parameter for a sharded one, and DeepSpeed builds one engine of both, so
            # accelerate must get model and optimizer together; the groups are built on the full-shaped
            # parameters (decay on matrices only)
            self.prepared, self.optimizer = acc.prepare(self.raw_model,
                                                        build_optimizer(self.raw_model, cfg, acc.device))
        else:
            # model first, then its optimizer (FSDP1 needs this order)
            self.prepared = acc.prepare(self.raw_model)
            self.optimizer = acc.prepare(build_optimizer(self.prepared, cfg, acc.device))
        self.model = torch.compile(self.prepared) if cfg.compile else self.prepared
        if hasattr(self.train_data, "bind"):
            self.train_data.bind(acc.process_index, acc.num_processes, cfg.grad_accum)
        # the data position is saved as JSON in trainer_state.json, not with accelerate's
        # register_for_checkpointing: that pickles it and loads it back with weights_only=False, so a tampered
        # run folder would run code on --resume
        if not self.sharded:
            # the weights live once, in the model directory; accelerate keeps optimizer, RNG and data state
            acc.register_save_state_pre_hook(lambda models, weights, out: weights.clear())
            acc.register_load_state_pre_hook(lambda models, inp: models.clear())
        block = getattr(self.train_data, "block_size", None)
        if self.flops_per_token is None and block:
            self.flops_per_token = flops_per_token(self.raw_model, block)
        peak, self.device_name = device_peak_flops(acc.device)
        self.peak_flops = peak * acc.num_processes if peak else None
        self.tokens_per_step = self.train_data.tokens_per_batch * cfg.grad_accum * acc.num_processes

    def _resume(self) -> None:
        found = ckpt.require_checkpoint(self.run.path)
        if not self.sharded:
            ckpt.load_model_weights(self.raw_model, found)
        state = ckpt.read_state(found)
        position = ckpt.read_data_position(found, state)
        if self.accelerator.is_main_process:
            ckpt.remove_pickled_position(found)
        self.accelerator.wait_for_everyone()
        # optimizer, RNG of every process: weights_only
        self.accelerator.load_state(str(found / ckpt.STATE_DIR))
        self.train_data.load_state_dict(position)
        self.step, self.tokens, self.elapsed = state["step"], state["tokens"], state["elapsed"]
        self.best_val_loss, self.last_val_loss = state.get("best_val_loss"), state.get("last_val_loss")
        self.sink.truncate_after(self.step)
        return True

    # ---------------------------------------------------------------- the loop
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to max_steps / max_time (resuming from the run folder's checkpoint if asked); the summary."""
        threads = torch.get_num_threads()
        try:
            return self._fit(resume)
        finally:
            torch.set_num_threads(threads)   # cfg.threads applies to this run only, not the whole process

    def _fit(self, resume: bool) -> dict[str, Any]:
        cfg = self.cfg
        self._setup()
        acc = self.accelerator
        self.sink = MetricsSink(self.run, acc.is_main_process, cfg.report_to, cfg.wandb_project,
                                config=_as_dict(self.run_config))
        if resume:
            self._resume()
        resumed_from = self.step if resume else None
        if acc.is_main_process:
            self.run.save_config(self.run_config)
        self.model.train()
        start_step = self.step
        clock = self._clock = time.perf_counter() - self.elapsed
        self._agreed_elapsed = self.elapsed
        window_loss, window_steps, window_start, window_tokens = None, 0, time.perf_counter(), 0
        last_log: dict[str, Any] = {}
        with (
            progress_bar(
                cfg.max_steps,
                self.description,
                unit="tok",
                enabled=None if acc.is_main_process else False,
                time_budget=None if cfg.max_time is None else cfg.max_time - self.elapsed,
            ) as bar,
            self._ctrl_c_stops_after_a_step(),
        ):
            bar.advance(self.step, amount=0)
            try:
                while self.step < cfg.max_steps:
                    at_sync = (self.step - start_step) % cfg.log_interval == 0
                    if self._interrupt_agreed(at_sync):
                        self.stopped_by = "interrupt"
                        break
                    if self._out_of_time(clock, at_sync=at_sync):
                        self.stopped_by = "max_time"
                        break
                    loss = self._train_step()
                    self.step += 1
                    self.tokens += self.tokens_per_step
                    window_tokens += self.tokens_per_step
                    window_loss = loss if window_loss is None else window_loss + loss
                    window_steps += 1
                    self.elapsed = time.perf_counter() - clock
                    bar.advance(1, amount=self.tokens_per_step)
                    if self.step % cfg.log_interval == 0 or self.step == cfg.max_steps:
                        now = time.perf_counter()
                        last_log = self._log_train(window_loss / window_steps,
                                                   window_tokens / (now - window_start))
                        bar.set_status(f"loss {last_log['loss']:.3f}"
                                       + (f" val {self.last_val_loss:.3f}" if self.last_val_loss else "")
                                       + (f" mfu {last_log['mfu']:.0%}" if last_log.get("mfu") else ""))
                        window_loss, window_steps, window_start, window_tokens = (
                            None,
                            0,
                            time.perf_counter(),
                            0,
                        )
                    self._periodic()
            finally:
                if window_loss is not None and window_steps and self.stopped_by != "nan":
                    last_log = self._log_train(window_loss / window_steps, None)
        if self.stopped_by == "interrupt":
            self._save_and_stop()
        self._finish()
        summary = {
            "steps": self.step, "best_val_loss": self.best_val_loss, "final_val_loss": self.last_val_loss,
            "train_seconds": round(self.elapsed, 2), "tokens": self.tokens,
            "tokens_per_s": round(self.tokens / self.elapsed, 1) if self.elapsed else None,
            "stopped_by": self.stopped_by, "resumed_from": resumed_from,
            "params": count_params(self.raw_model),
            "device": self.device_name, "processes": acc.num_processes,
            "mixed_precision": acc.mixed_precision,
            "checkpoint": str(self.run.path / ckpt.CHECKPOINT),
        }
        if self.flops_per_token and self.peak_flops and self.elapsed:
            summary["mfu"] = round(self.flops_per_token * self.tokens / self.elapsed / self.peak_flops, 4)
        return summary

    def _train_step(self) -> torch.Tensor:
        cfg, acc = self.cfg, self.accelerator
        # one process reads its clock; several use the elapsed time they agreed on at the last log point,
        # so every process applies the same learning rate
        elapsed = time.perf_counter() - self._clock if acc.num_processes == 1 else self._agreed_elapsed
        lr = lr_at(self.step, cfg, elapsed=elapsed)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total = torch.zeros((), device=acc.device)
        for micro in range(cfg.grad_accum):
            x, y = self.train_data.next_batch()
            x, y = self._to_device(x), self._to_device(y)
            last = micro == cfg.grad_accum - 1
            # gradients of the first micro-batches stay local; the last one all-reduces the sum
            sync = contextlib.nullcontext() if last or acc.num_processes == 1 else acc.no_sync(self.prepared)
            with sync:
                loss = self.loss_fn(self.model, x, y)
                acc.backward(loss / cfg.grad_accum)
            total += loss.detach()
        limit = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        self.grad_norm = acc.clip_grad_norm_(self.prepared.parameters(), limit)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.lr = lr
        return total / cfg.grad_accum

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        device = self.accelerator.device
        if device.type == "cuda":   # pinned host memory lets the copy overlap with compute
            return t.pin_memory().to(device, non_blocking=True)
        return t.to(device)

    @contextlib.contextmanager
    def _ctrl_c_stops_after_a_step(self):
        """While training, the first Ctrl-C (SIGINT) only sets a flag: the loop stops between two optimizer
        steps, where model, optimizer, data position and step count agree, and saves. Python delivers signals
        to the main thread only; elsewhere Ctrl-C keeps its ordinary meaning, and a process that ignores
        SIGINT (nohup, a background job) goes on ignoring it."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            yield
            return

        def on_ctrl_c(signum, frame):
            self._interrupted = True
            signal.signal(signal.SIGINT, previous)      # a second Ctrl-C stops at once, without saving
            print(f"\nCtrl-C: stopping after step {self.step + 1} and saving a checkpoint "
                  "(Ctrl-C again to stop without saving)", file=sys.stderr, flush=True)

        signal.signal(signal.SIGINT, on_ctrl_c)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _interrupt_agreed(self, at_sync: bool) -> bool:
        """One process: the flag. Several: they stop together at a log boundary, so no collective is left
        waiting."""
        if self.accelerator.num_processes == 1:
            return self._interrupted
        if not at_sync:
            return False
        flag = torch.tensor(float(self._interrupted), device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, "max").item())

    def _save_and_stop(self) -> None:
        """After Ctrl-C: save the checkpoint, say where it is and how to continue, and leave as
        KeyboardInterrupt."""
        self.save_checkpoint()
        self.sink.close()
        if self.accelerator.is_main_process:
            where = self.run.path / ckpt.CHECKPOINT
            print(f"interrupted at step {self.step} of {self.cfg.max_steps}; checkpoint saved in {where}",
                  file=sys.stderr, flush=True)
            if self.resume_command:
                print(f"resume with: {self.resume_command}", file=sys.stderr, flush=True)
        raise KeyboardInterrupt

    def _out_of_time(self, clock: float, at_sync: bool) -> bool:
        if self.cfg.max_time is None:
            return False
        elapsed = time.perf_counter() - clock
        if self.accelerator.num_processes == 1:
            return elapsed >= self.cfg.max_time
        if not at_sync:      # processes decide together (rank clocks differ) at log boundaries only
            return False
        agreed = torch.tensor(elapsed, device=self.accelerator.device)
        self._agreed_elapsed = float(self.accelerator.reduce(agreed, "max").item())
        return self._agreed_elapsed >= self.cfg.max_time

    def _log_train(self, loss: torch.Tensor, tokens_per_s: float | None) -> dict[str, Any]:
        acc = self.accelerator
        loss_value = acc.reduce(loss.detach(), "mean").item()
        grad_norm = float(self.grad_norm)
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
            self._stop_on_nan(loss_value, grad_norm)
        row: dict[str, Any] = {"step": self.step, "loss": loss_value, "lr": self.lr, "grad_norm": grad_norm,
                               "tokens": self.tokens, "elapsed_s": round(self.elapsed, 3)}
        if tokens_per_s is not None:
            row["tokens_per_s"] = round(tokens_per_s, 1)
            if self.flops_per_token and self.peak_flops:
                row["mfu"] = round(self.flops_per_token * tokens_per_s / self.peak_flops, 4)
        self.sink.log(row)
        return row

    def _stop_on_nan(self, loss: float, grad_norm: float) -> None:
        self.stopped_by = "nan"
        self.sink.close()
        found = ckpt.find_checkpoint(self.run.path)
        kept = (f"the last good checkpoint (step {ckpt.read_state(found)['step']}) is kept in {found}"
                if found else "no checkpoint had been written yet")
        raise LabError(f"training diverged at step {self.step}: loss {loss}, gradient norm {grad_norm}",
                       hint=f"{kept}; lower lr (now {self.cfg.lr}), raise warmup_steps or grad clipping, "
                            "check the data, then run again with --resume")

    def _due(self, interval: int) -> bool:
        return interval > 0 and self.step % interval == 0 and self.step < self.cfg.max_steps

    def _periodic(self) -> None:
        cfg = self.cfg
        if self._due(cfg.eval_interval):
            self.evaluate_and_log()
        if self._due(cfg.sample_interval):
            self.write_samples()
        if self._due(cfg.checkpoint_every):
            self.save_checkpoint()

    # ---------------------------------------------------------------- eval, samples, checkpoints
    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Mean loss over the same `eval_iters` validation batches every time (split across processes)."""
        if self.val_data is None:
            return None
        acc = self.accelerator
        self.prepared.eval()
        total = torch.zeros(2, device=acc.device)          # (sum of losses, count)
        for i in range(acc.process_index, self.cfg.eval_iters, acc.num_processes):
            x, y = self.val_data.eval_batch(i)
            with acc.autocast():
                total[0] += self.loss_fn(self.prepared, self._to_device(x), self._to_device(y)).float()
            total[1] += 1
        self.prepared.train()
        total = acc.reduce(total, "sum")
        return (total[0] / total[1].clamp(min=1)).item()

    def evaluate_and_log(self) -> float | None:
        val_loss = self.evaluate()
        self._evaluated_at = self.step
        if val_loss is None:
            return None
        if not math.isfinite(val_loss):
            self._stop_on_nan(val_loss, float("nan"))
        self.last_val_loss = val_loss
        row = {"step": self.step, "val_loss": val_loss, "val_ppl": math.exp(min(val_loss, 50.0)),
               "elapsed_s": round(self.elapsed, 3)}
        for key, per_token in (("val_bpc", "chars_per_token"), ("val_bpb", "bytes_per_token")):
            ratio = getattr(self.val_data, per_token, None)
            if ratio:
                row[key] = val_loss / math.log(2) / ratio
        self.sink.log(row)
        if self.best_val_loss is None or val_loss < self.best_val_loss:
            self.best_val_loss = val_loss
            if self.cfg.save_best:
                self._save(ckpt.BEST, with_state=False)
        return val_loss

    def write_samples(self) -> dict[str, str]:
        if self.sharded or not self.accelerator.is_main_process:
            return {}               # sharded weights: sample from the saved checkpoint instead
        fn = self.sample_fn or self._default_samples
        if fn is None:
            return {}
        self.raw_model.eval()
        with self.accelerator.autocast():
            samples = fn(self.raw_model)
        self.raw_model.train()
        for prompt, text in samples.items():
            self.sink.text(prompt, text, self.step)
        return samples

    @property
    def _default_samples(self) -> Callable[[torch.nn.Module], dict[str, str]] | None:
        if self.tokenizer is None or not self.cfg.sample_prompts:
            return None
        from llmlab.generation import SamplingParams
        from llmlab.generation.decode import generate_text

        params = SamplingParams(temperature=self.cfg.sample_temperature, top_k=self.cfg.sample_top_k,
                                max_new_tokens=self.cfg.sample_tokens, seed=self.cfg.seed)
        return lambda model: {
            p: generate_text(model, self.tokenizer, p, params) for p in self.cfg.sample_prompts
        }

    def save_checkpoint(self) -> None:
        self._save(ckpt.CHECKPOINT, with_state=True)

    def _save(self, name: str, with_state: bool) -> None:
        """Build <name>.tmp on every process, then swap it in with renames (main process)."""
        acc = self.accelerator
        target = self.run.path / name
        tmp = target.with_name(name + ".tmp")
        if acc.is_main_process:
            ckpt.begin_atomic(self.run.file(name))     # run.file: an earlier run being replaced goes first
        acc.wait_for_everyone()
        state_dict = acc.get_state_dict(self.prepared) if self.sharded else None   # a collective under FSDP
        if acc.is_main_process:
            ckpt.save_model_dir(self.raw_model, tmp, state_dict, self.tokenizer)
        if with_state:
            acc.save_state(str(tmp / ckpt.STATE_DIR))
        acc.wait_for_everyone()
        if acc.is_main_process:
            ckpt.write_state(tmp, {"step": self.step, "tokens": self.tokens, "elapsed": self.elapsed,
                                   "best_val_loss": self.best_val_loss, "last_val_loss": self.last_val_loss,
                                   "data": self.train_data.state_dict() if with_state else None,
                                   "config": _as_dict(self.run_config)})
            ckpt.commit_atomic(target)
        acc.wait_for_everyone()

    def _finish(self) -> None:
        """The end of every run (max_steps or max_time): eval, samples, checkpoint, loss picture."""
        if self._evaluated_at != self.step:
            self.evaluate_and_log()
        self.write_samples()
        self.save_checkpoint()
        if self.accelerator.is_main_process:
            from llmlab.plots import loss_curve_from_metrics

            loss_curve_from_metrics(self.run.metrics(), self.run.file("loss.png"),
                                    title=f"{self.run.path.name}: loss")
        self.sink.close()


def _as_dict(cfg: Any) -> dict[str, Any]:
    from llmlab.config import config_dict

    return config_dict(cfg) if cfg is not None else {}
