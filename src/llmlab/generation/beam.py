"""Beam search over any llmlab model, step for step the algorithm of transformers' `generate(num_beams=N)`.

    result = beam_search(model, prompt_ids, num_beams=4, max_new_tokens=40, eos_token_id=None)
    result.tokens, result.score          # the best hypothesis and its length-normalised log-probability

Each step scores every (beam, token) pair by its running sum of log-probabilities, keeps the best
K = max(2, 1 + #eos) * N, and from those (a) moves hypotheses that just ended (EOS or the length limit)
into the finished set, scored  sum_logprob / generated_length ** length_penalty  (only the top N
candidates may finish), and (b) continues with the N best that did not end. It stops when no running
beam can beat the worst finished one (transformers' heuristic for early_stopping=False), when all
finished and early_stopping=True, or at the length limit. Tests check token equality with `generate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmlab.errors import LabError
from llmlab.generation.processors import repetition_penalty as apply_repetition_penalty
from llmlab.generation.steppers import model_device, stepper_for

if TYPE_CHECKING:
    import torch

NEG = -1.0e9   # "impossible" as transformers writes it, so ties and sums behave the same


@dataclass
class BeamResult:
    tokens: list[int]                              # new tokens of the best hypothesis
    score: float                                   # its sum log-prob / length ** length_penalty
    hypotheses: list[tuple[list[int], float]]      # all kept finished hypotheses, best first
    text: str | None = None


def beam_search(model: torch.nn.Module, prompt: Sequence[int] | torch.Tensor, num_beams: int = 4,
                max_new_tokens: int = 64, length_penalty: float = 1.0, early_stopping: bool | str = False,
                eos_token_id: int | Sequence[int] | None = None, repetition_penalty: float = 1.0,
                tokenizer=None, context: int | None = None) -> BeamResult:
    import torch  # here, not at the top: `import llmlab.generation` stays torch-free (tests/test_layers.py)

    with torch.no_grad():
        if num_beams < 1 or max_new_tokens < 1:
            raise LabError(f"beam search needs num_beams >= 1 and max_new_tokens >= 1 (got {num_beams}, "
                           f"{max_new_tokens})", hint="e.g. --beams 4 --max-new-tokens 100")
        device = model_device(model)
        prompt_ids = torch.as_tensor(prompt, dtype=torch.long, device=device).reshape(1, -1)
        n, start = num_beams, prompt_ids.shape[1]
        eos = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id or []),
                           dtype=torch.long, device=device)
        k = max(2, 1 + len(eos)) * n                    # candidates kept per step, so N can always continue
        max_length = start + max_new_tokens
        top_n = torch.arange(k, device=device) < n      # only these may enter the finished set

        running = prompt_ids.repeat(n, 1)                                          # (N, T)
        running_scores = torch.full((n,), NEG, device=device)
        # identical beams at first: let only one of them expand
        running_scores[0] = 0.0
        done_seqs = torch.zeros((n, max_length), dtype=torch.long, device=device)  # finished set (N slots)
        done_lens = torch.zeros(n, dtype=torch.long, device=device)
        done_scores = torch.full((n,), NEG, device=device)
        done_flags = torch.zeros(n, dtype=torch.bool, device=device)
        can_improve = True

        stepper = stepper_for(model, context)
        logits = stepper.prefill(running)
        cur = start
        while True:
            log_probs = logits.float().log_softmax(dim=-1)                         # (N, V)
            if repetition_penalty != 1.0:    # applied to log-probs, as transformers does for beams
                log_probs = apply_repetition_penalty(log_probs, running, repetition_penalty)
            vocab = log_probs.shape[-1]
            totals = (log_probs + running_scores[:, None]).reshape(-1)             # (N*V,)
            cand_scores, cand_idx = torch.topk(totals, k)
            parent, token = cand_idx // vocab, cand_idx % vocab
            cand_seqs = torch.cat([running[parent], token[:, None]], dim=1)        # (K, cur+1)
            ended = torch.isin(token, eos) | (cur + 1 >= max_length)

            # (b) the N best candidates that did not end keep running
            alive_scores = cand_scores + ended.float() * NEG
            keep = torch.topk(alive_scores, n).indices
            next_running, next_scores, next_parent = cand_seqs[keep], alive_scores[keep], parent[keep]

            # (a) candidates that just ended compete with the finished set
            final = cand_scores / ((cur + 1 - start) ** length_penalty)
            if early_stopping is True and bool(done_flags.all()):
                final = final + NEG
            if not can_improve:
                final = final + NEG
            final = final + (~(ended & top_n)).float() * NEG
            padded = torch.zeros((k, max_length), dtype=torch.long, device=device)
            padded[:, :cur + 1] = cand_seqs
            merged_scores = torch.cat([done_scores, final])
            best = torch.topk(merged_scores, n).indices
            done_seqs = torch.cat([done_seqs, padded])[best]
            done_lens = torch.cat([done_lens, torch.full((k,), cur + 1, device=device)])[best]
            done_flags = torch.cat([done_flags, ended & top_n])[best]
            done_scores = merged_scores[best]
            cur += 1

            # can a running beam still beat the worst finished one?
            hypothetical = (max_length if early_stopping == "never" and length_penalty > 0.0 else cur) - start
            best_possible = next_scores[0] / (hypothetical ** length_penalty)
            worst_done = torch.where(done_flags, done_scores.min(), torch.full_like(done_scores, NEG))
            can_improve = can_improve and bool((best_possible > worst_done).any())
            open_beams = not (bool(done_flags.all()) and early_stopping is True)
            if not (can_improve and open_beams and not bool(ended.all())):
                break
            running, running_scores = next_running, next_scores
            stepper.reorder(next_parent)
            logits = stepper.step(running[:, -1])

        hypotheses = [(done_seqs[i, start:done_lens[i]].tolist(), float(done_scores[i]))
                      for i in range(n) if bool(done_flags[i])]
        tokens, score = hypotheses[0] if hypotheses else ([], float("-inf"))
        text = tokenizer.decode(tokens) if tokenizer is not None else None
        return BeamResult(tokens, score, hypotheses, text)
