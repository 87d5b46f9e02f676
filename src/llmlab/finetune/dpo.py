"""DPO (Rafailov et al. 2023): learn from (prompt, chosen, rejected) pairs without a reward model.

    pairs = PreferencePairs(tok, examples, batch_size=16)   # examples: {"prompt", "chosen", "rejected"}
    pairs.compute_reference(model)                 # log pi_ref of every pair, once, before training
    objective = DPOObjective(pairs, beta=0.1)      # the Trainer's loss_fn; objective.rows: the metrics

With s(y) = log pi(y | x) - log pi_ref(y | x) (the completion's summed token log-probs, policy minus
reference),

    loss = -log sigmoid(beta * (s(y_chosen) - s(y_rejected)))            averaged over the pairs

beta * s(y) is the "implicit reward": the loss asks the chosen completion's reward to beat the rejected one's.
The reference is the policy at the start (the SFT model), so its log-probs are computed once, before the first
step, and no second model is kept in memory (TRL's `precompute_ref_log_probs`). Metrics per step: rewards of
chosen and rejected, their margin, the share of pairs ranked right (reward accuracy), the summed log-probs.
Silent failure to watch: chosen *and* rejected log-probs both falling (the margin grows by pushing everything
down) -- the policy drifts from what it could write; a smaller beta or fewer steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from llmlab.errors import LabError
from llmlab.finetune.chat_sft import encode_conversation
from llmlab.finetune.logprobs import token_logprobs
from llmlab.training.batches import IGNORE_INDEX

FIELDS = ("prompt", "chosen", "rejected")


def dpo_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, ref_chosen_logps: torch.Tensor,
             ref_rejected_logps: torch.Tensor, beta: float) -> tuple[torch.Tensor, dict[str, float]]:
    """The sigmoid DPO loss over a batch of pairs (each argument (B,)) and its metrics."""
    chosen_rewards = beta * (chosen_logps - ref_chosen_logps)             # (B,) implicit rewards
    rejected_rewards = beta * (rejected_logps - ref_rejected_logps)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    c, r = chosen_rewards.detach(), rejected_rewards.detach()
    metrics = {"rewards_chosen": c.mean().item(), "rewards_rejected": r.mean().item(),
               "reward_margin": (c - r).mean().item(), "reward_accuracy": (c > r).float().mean().item(),
               "logps_chosen": chosen_logps.detach().mean().item(),
               "logps_rejected": rejected_logps.detach().mean().item()}
    return loss, metrics


def as_messages(prompt: Any) -> list[dict[str, str]]:
    """A prompt given as plain text is one user message; a list of messages is taken as it is."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def completion_text(value: Any) -> str:
    """A completion as text: a string, or (TRL's conversational form) a list holding one assistant message."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0].get("content")
    if not isinstance(value, str):
        raise LabError("a completion must be text or [{'role': 'assistant', 'content': ...}], "
                       f"got {value!r}",
                       hint='"chosen": "the better answer", "rejected": "the worse one"')
    return value


def check_fields(example: Any, fields: tuple[str, ...], index: int, what: str) -> None:
    if not isinstance(example, dict) or any(f not in example for f in fields):
        have = ", ".join(sorted(example)) if isinstance(example, dict) else type(example).__name__
        missing = ", ".join(f for f in fields if not isinstance(example, dict) or f not in example)
        raise LabError(f"{what} example {index} lacks the fields {missing} (it has: {have})",
                       hint=f"each {what} example needs " + ", ".join(repr(f) for f in fields)
                            + "; rename the dataset's columns to these")


def _rows(tok: Any, prompt: Any, completion: str, max_length: int) -> tuple[list[int], list[bool]]:
    ex = encode_conversation(tok, as_messages(prompt) + [{"role": "assistant", "content": completion}],
                             last_only=True)
    return ex.ids[:max_length], ex.learn[:max_length]


class PreferencePairs:
    """The Trainer's batch source: x = [chosen rows; rejected rows] (2B, T), y their targets (-100 off the
    completion). `current_ref` holds the reference log-probs of the batch just served (DPOObjective reads
    them)."""

    def __init__(self, tokenizer: Any, examples: list[dict[str, Any]], batch_size: int, seed: int = 0,
                 max_length: int = 512):
        seqs, flags = [], []
        for i, ex in enumerate(examples):
            check_fields(ex, FIELDS, i, "DPO")
            for key in ("chosen", "rejected"):
                ids, learn = _rows(tokenizer, ex["prompt"], completion_text(ex[key]), max_length)
                seqs.append(ids)
                flags.append(learn)
        if not examples:
            raise LabError("no preference pairs to train on",
                           hint="give a dataset of prompt/chosen/rejected rows")
        width = max(len(s) for s in seqs)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        rows = torch.full((len(seqs), width), pad, dtype=torch.long)        # (2N, L): chosen, rejected, ...
        targets = torch.zeros((len(seqs), width), dtype=torch.bool)
        for i, (s, m) in enumerate(zip(seqs, flags, strict=True)):
            rows[i, :len(s)], targets[i, :len(m)] = torch.tensor(s), torch.tensor(m)
        if not targets[:, 1:].any(-1).all():
            raise LabError("a completion was cut away entirely by max_length",
                           hint="raise --set max_length=...")
        self.x = rows[:, :-1].reshape(len(examples), 2, width - 1)               # (N, 2, T)
        self.y = rows[:, 1:].masked_fill(~targets[:, 1:], IGNORE_INDEX).reshape(len(examples), 2, width - 1)
        self.batch_size, self.seed, self.block_size = int(batch_size), int(seed), width - 1
        self.ref: torch.Tensor | None = None                                       # (N, 2) log pi_ref
        self.current_ref: torch.Tensor | None = None
        self.cursor = 0

    def __len__(self) -> int:
        return len(self.x)

    @property
    def tokens_per_batch(self) -> int:
        return 2 * self.batch_size * self.block_size

    @torch.no_grad()
    def compute_reference(self, model: torch.nn.Module, chunk: int = 64) -> None:
        """Summed completion log-probs of every pair under `model` (the reference: the policy before DPO)."""
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        out = []
        for i in range(0, len(self.x), chunk):
            x, y = self.x[i:i + chunk].flatten(0, 1), self.y[i:i + chunk].flatten(0, 1)   # (2b, T)
            out.append(token_logprobs(model, x.to(device), y.to(device)).sum(-1).view(-1, 2).cpu())   # (b, 2)
        self.ref = torch.cat(out)
        model.train(was_training)

    def _take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.ref is None:
            raise LabError("the reference log-probs are missing", hint="call compute_reference(model) first")
        self.current_ref = self.ref[index]                                        # (B, 2)
        x, y = self.x[index], self.y[index]                                       # (B, 2, T)
        # (2B, T): the chosen rows, then the rejected ones
        return torch.cat([x[:, 0], x[:, 1]]), torch.cat([y[:, 0], y[:, 1]])

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.cursor])
        self.cursor += 1
        return self._take(torch.from_numpy(rng.integers(0, len(self.x), self.batch_size)))

    def state_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cursor = int(state["cursor"])


class DPOObjective:
    """loss_fn(model, x, y) for llmlab's Trainer; appends each step's metrics to `rows`."""

    def __init__(self, pairs: PreferencePairs, beta: float):
        self.pairs, self.beta, self.rows = pairs, float(beta), []

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logps = token_logprobs(model, x, y).sum(-1)                     # (2B,) summed over each completion
        chosen, rejected = logps.chunk(2)
        ref = self.pairs.current_ref.to(logps.device, logps.dtype)       # (B, 2)
        loss, metrics = dpo_loss(chosen, rejected, ref[:, 0], ref[:, 1], self.beta)
        self.rows.append({"loss": loss.item(), **metrics})
        return loss
