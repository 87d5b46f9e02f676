"""Exercise `beam`: beam search with a length penalty, step for step the algorithm of transformers' generate.

Check it with `llmlab learn check charlm beam` (your tokens and score against `generate(num_beams=...)`
on a tiny random GPT-2). Given:
    stepper = stepper_for(model, context)   logits = stepper.prefill(ids (N, T)) -> (N, V) of the next token;
                                            stepper.step(next_ids (N,)) -> (N, V); stepper.reorder(index (N,))
                                            keeps rows `index` of the model's past (after you reorder beams)
    model_device(model), BeamResult(tokens, score, hypotheses, text), NEG = -1e9 ("impossible"),
    apply_repetition_penalty(log_probs, running_ids, penalty) for repetition_penalty != 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from llmlab.errors import LabError  # noqa: F401 - for your code
from llmlab.generation.beam import NEG, BeamResult  # noqa: F401 - for your code
from llmlab.generation.processors import repetition_penalty as apply_repetition_penalty  # noqa: F401
from llmlab.generation.steppers import model_device, stepper_for  # noqa: F401 - for your code


@torch.no_grad()
def beam_search(model: torch.nn.Module, prompt: Sequence[int] | torch.Tensor, num_beams: int = 4,
                max_new_tokens: int = 64, length_penalty: float = 1.0, early_stopping: bool | str = False,
                eos_token_id: int | Sequence[int] | None = None, repetition_penalty: float = 1.0,
                tokenizer=None, context: int | None = None) -> BeamResult:
    """The N = num_beams most likely continuations, kept in parallel; the best finished one wins.

    State: N running beams (N, T) with their sum of log-probabilities; at first one beam with score 0
    and N - 1 copies at NEG (identical beams must not all expand). Each step, with L = the new tokens so far:
      1. totals = log_softmax(logits) + beam scores, flattened over (N·V); keep the best K = max(2, 1 +
      #eos)·N.
      2. A candidate "ends" if its token is an EOS or it reaches max_new_tokens. Ending candidates among
         the top N of the K (only those) enter the finished set, scored
             score = sum_logprob / (L + 1) ** length_penalty          (L + 1: the new tokens, EOS counted)
         The finished set keeps the N best scores.
      3. The N best candidates that did not end become the running beams (reorder the stepper to
         their parents, then step on their last token).
      4. Stop once N hypotheses have finished and the best running beam cannot beat the worst of
         them: best running score / L' ** length_penalty <= worst finished score, with L' = L + 1
         (or max_new_tokens when early_stopping == "never" and length_penalty > 0). With
         early_stopping=True, stop as soon as N have finished. Always stop at max_new_tokens.
    Return BeamResult(tokens of the best hypothesis, its score, all finished (tokens, score) best
    first, tokenizer.decode(tokens) when a tokenizer is given, else None).

    length_penalty > 0 favours longer hypotheses (log-probs are negative, so a larger divisor raises
    the score); < 0 favours shorter ones. Example: two finished hypotheses, sums -4.0 over 4 tokens and
    -3.0 over 2: with length_penalty 1, -1.0 beats -1.5; with 0 (no penalty), -3.0 beats -4.0.
    """
    raise NotImplementedError("beam_search")
