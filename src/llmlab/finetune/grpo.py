"""GRPO (Shao et al. 2024, DeepSeekMath): reinforcement learning from a verifier, with no value model.

    rollouts = GroupRollouts(policy, reference, tok, prompts, reward_fn, cfg)  # prompts: {"prompt", "answer"}
    objective = GRPOObjective(rollouts, cfg)                                     # the Trainer's loss_fn

Each step samples a group of G completions for each of B prompts (llmlab.generation, seeded), scores them with
`reward_fn(prompts, completions, answers) -> list[float]`, and turns the rewards into advantages within each
group:  A_i = (r_i - mean(r_group)) / (std(r_group) + 1e-4)  (unbiased std, as TRL). Every token of completion
i then gets advantage A_i in the clipped objective of PPO plus a KL penalty to the reference policy:

    ratio_t = pi(o_t | q, o_<t) / pi_old(o_t | q, o_<t)
    loss_t  = -min(ratio_t A, clip(ratio_t, 1 - eps, 1 + eps) A) + beta * KL_t
    KL_t    = pi_ref / pi - log(pi_ref / pi) - 1            (the k3 estimator: unbiased, always >= 0)
              (times ratio_t with kl_correction: the tokens came from pi_old, not pi; TRL's default)

pi_old is the policy that sampled the batch: with `iterations` = 1 the ratio is exactly 1 (only its gradient
acts); with more, the same samples feed several steps and the clip keeps each step near the sampler. The loss
is each completion's token mean, then the mean over completions (`grpo`), or one mean over all tokens
(`bnpo`).
Log-probs use logits / temperature, the distribution that was sampled. Metrics per step: mean reward, reward
std within groups, KL, clip fraction, completion length, entropy. A group whose rewards are all equal has zero
advantage and teaches nothing: when `reward_std` sits at 0 the task is too hard (or too easy) for the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from llmlab.errors import LabError
from llmlab.finetune.chat_sft import require_chat_template
from llmlab.finetune.dpo import as_messages, check_fields
from llmlab.finetune.logprobs import gather_logprobs, model_logits, token_entropy
from llmlab.training.batches import IGNORE_INDEX

RewardFn = Callable[[list[Any], list[str], list[Any]], Sequence[float]]
FIELDS = ("prompt", "answer")


def group_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """(B*G,) rewards, groups contiguous -> (B*G,) advantages, normalised within each group."""
    groups = rewards.view(-1, group_size)                                   # (B, G)
    mean = groups.mean(1, keepdim=True)
    std = groups.std(1, keepdim=True)                                       # unbiased (n - 1)
    return ((groups - mean) / (std + 1e-4)).reshape(-1)


def grpo_token_loss(logps: torch.Tensor, old_logps: torch.Tensor, ref_logps: torch.Tensor,
                    advantages: torch.Tensor, epsilon: float, kl_beta: float,
                    kl_correction: bool = True) -> tuple[torch.Tensor, ...]:
    """Per-token loss (N, T), with the per-token KL and the ratio (for the metrics). advantages: (N,).
    kl_correction weighs the KL by the ratio: the tokens were sampled from pi_old, not pi (TRL's default)."""
    ratio = torch.exp(logps - old_logps)                                   # (N, T)
    adv = advantages.unsqueeze(1)                                          # (N, 1): one per completion
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    loss = -torch.min(ratio * adv, clipped * adv)
    kl = torch.exp(ref_logps - logps) - (ref_logps - logps) - 1
    if kl_correction:
        kl = kl * ratio
    return loss + kl_beta * kl, kl, ratio


def reduce_loss(per_token: torch.Tensor, mask: torch.Tensor, loss_type: str) -> torch.Tensor:
    mask = mask.to(per_token.dtype)
    if loss_type == "grpo":            # each completion weighs the same, whatever its length
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)          # bnpo: each token weighs the same


def score(reward_fn: RewardFn, prompts: list[Any], completions: list[str], answers: list[Any]
          ) -> torch.Tensor:
    """The verifier's rewards as a float tensor; a clear error for a raising or malformed reward function."""
    name = getattr(reward_fn, "__name__", type(reward_fn).__name__)
    try:
        rewards = list(reward_fn(prompts, completions, answers))
    except Exception as exc:        # a user's function: anything can come out of it
        raise LabError(f"the reward function {name} raised {type(exc).__name__}: {exc} "
                       f"(first completion: {completions[0]!r}, answer {answers[0]!r})",
                       hint="reward_fn(prompts, completions, answers) must return one float per completion, "
                            "also for completions that are empty or malformed") from exc
    if len(rewards) != len(completions) or not all(isinstance(r, int | float) for r in rewards):
        raise LabError(f"the reward function {name} returned {rewards[:4]!r}... for {len(completions)} "
                       "completions",
                       hint="return one number per completion, in order")
    return torch.tensor([float(r) for r in rewards])


@dataclass
class Rollout:
    x: torch.Tensor              # (N, T) prompt + completion, right-padded
    y: torch.Tensor              # (N, T) targets: the completion's tokens, -100 elsewhere
    old_logps: torch.Tensor      # (N, T) the sampler's log-probs of the targets
    ref_logps: torch.Tensor      # (N, T) the reference's
    advantages: torch.Tensor     # (N,)
    metrics: dict[str, float]


class GroupRollouts:
    """The Trainer's batch source: each batch freshly sampled from the policy (served `iterations` times)."""

    def __init__(self, policy: torch.nn.Module, reference: torch.nn.Module | None, tokenizer: Any,
                 prompts: list[dict[str, Any]], reward_fn: RewardFn, cfg: Any):
        from llmlab.generation import eos_token_ids
        from llmlab.tokenizer.chat_template import render_chat

        require_chat_template(tokenizer, "GRPO")
        for i, p in enumerate(prompts):
            check_fields(p, FIELDS, i, "GRPO")
        if not prompts:
            raise LabError("no prompts to train on", hint='give a dataset of {"prompt", "answer"} rows')
        self.policy, self.tok, self.prompts, self.reward_fn = policy, tokenizer, prompts, reward_fn
        self.cfg = cfg
        # the reference: a frozen copy of the policy as it starts (the SFT model)
        if reference is None:
            reference = copy.deepcopy(policy).eval().requires_grad_(False)
        self.reference = reference
        self.prompt_ids = [tokenizer(render_chat(tokenizer, as_messages(p["prompt"])),
                                     add_special_tokens=False)["input_ids"] for p in prompts]
        self.stop = tuple(sorted(eos_token_ids(tokenizer, policy.config)))
        if not self.stop:
            raise LabError("the tokenizer has no EOS token, so a sampled completion would never end",
                           hint="set tokenizer.eos_token to the chat template's end-of-turn token")
        self.batch_size, self.block_size = cfg.batch_size * cfg.group_size, cfg.max_length
        self.cursor, self.current = 0, None

    @property
    def tokens_per_batch(self) -> int:
        return self.batch_size * self.block_size

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cursor % self.cfg.iterations == 0:
            self.current = self.rollout(self.cursor // self.cfg.iterations)
        self.cursor += 1
        return self.current.x, self.current.y

    @torch.no_grad()
    def rollout(self, index: int) -> Rollout:
        from llmlab.generation import SamplingParams, generate

        cfg, g = self.cfg, self.cfg.group_size
        rng = np.random.default_rng([cfg.seed, index])
        few = len(self.prompts) < cfg.batch_size
        chosen = rng.choice(len(self.prompts), size=cfg.batch_size, replace=few)
        was_training = self.policy.training
        self.policy.eval()                            # no dropout while sampling
        # prompts of one length are sampled together, G rows each (rows of one call must be equally long)
        by_length: dict[int, list[int]] = {}
        for k in chosen:
            by_length.setdefault(len(self.prompt_ids[k]), []).append(int(k))
        order, seqs, flags, texts = [], [], [], []
        for j, ks in enumerate(by_length.values()):
            params = SamplingParams(temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
                                    max_new_tokens=cfg.max_new_tokens, stop_token_ids=self.stop,
                                    seed=int(cfg.seed * 1_000_003 + index * 1009 + j))
            rows = [self.prompt_ids[k] for k in ks for _ in range(g)]        # (n*G, T): groups contiguous
            gen = generate(self.policy, rows, params, tokenizer=self.tok)
            for prompt, tokens, text in zip(rows, gen.tokens, gen.texts, strict=True):
                ids = (prompt + tokens)[:cfg.max_length]
                seqs.append(ids)
                flags.append([False] * len(prompt) + [True] * (len(ids) - len(prompt)))
                texts.append(text)
            order += ks
        chosen = order
        self.policy.train(was_training)
        prompts = [self.prompts[k]["prompt"] for k in chosen for _ in range(g)]
        answers = [self.prompts[k]["answer"] for k in chosen for _ in range(g)]
        rewards = score(self.reward_fn, prompts, texts, answers)             # (B*G,)
        x, y = self._pack(seqs, flags)
        device = next(self.policy.parameters()).device
        x, y = x.to(device), y.to(device)
        old = self._logps(self.policy, x, y)
        ref = self._logps(self.reference, x, y)
        lengths = (y != IGNORE_INDEX).sum(-1).float()
        metrics = {"reward": rewards.mean().item(),
                   "reward_std": rewards.view(-1, g).std(1).mean().item(),
                   "completion_length": lengths.mean().item()}
        return Rollout(x, y, old, ref, group_advantages(rewards, g).to(device), metrics)

    def _pack(self, seqs: list[list[int]], flags: list[list[bool]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.stop[0]
        rows = torch.full((len(seqs), width), pad, dtype=torch.long)
        learn = torch.zeros((len(seqs), width), dtype=torch.bool)
        for i, (s, m) in enumerate(zip(seqs, flags, strict=True)):
            rows[i, :len(s)], learn[i, :len(m)] = torch.tensor(s), torch.tensor(m)
        return rows[:, :-1], rows[:, 1:].masked_fill(~learn[:, 1:], IGNORE_INDEX)

    def _logps(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        was_training = model.training
        model.eval()
        out = gather_logprobs(model_logits(model, x).float() / self.cfg.temperature, y)
        model.train(was_training)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cursor = int(state["cursor"])
        self.current = self.rollout((self.cursor - 1) // self.cfg.iterations) if self.cursor else None


class GRPOObjective:
    """loss_fn(model, x, y) for llmlab's Trainer over the rollout just served; appends metrics to `rows`."""

    def __init__(self, rollouts: GroupRollouts, cfg: Any):
        self.rollouts, self.cfg, self.rows = rollouts, cfg, []

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r, cfg = self.rollouts.current, self.cfg
        logits = model_logits(model, x) / cfg.temperature                       # (N, T, V)
        logps = gather_logprobs(logits, y)
        mask = y != IGNORE_INDEX
        old, ref, adv = (t.to(logps.dtype) for t in (r.old_logps, r.ref_logps, r.advantages))
        per_token, kl, ratio = grpo_token_loss(logps, old, ref, adv, cfg.epsilon, cfg.kl_beta,
                                               cfg.kl_correction)
        loss = reduce_loss(per_token, mask, cfg.loss_type)
        with torch.no_grad():
            n = mask.sum().clamp(min=1)
            clipped = ((ratio < 1 - cfg.epsilon) | (ratio > 1 + cfg.epsilon)) & mask
            self.rows.append({"loss": loss.item(), **r.metrics, "kl": ((kl * mask).sum() / n).item(),
                              "clip_fraction": (clipped.sum() / n).item(),
                              "entropy": ((token_entropy(logits.detach()) * mask).sum() / n).item()})
        return loss
