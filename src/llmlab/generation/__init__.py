"""Decoding, shared by every generator in llmlab: SamplingParams, logits processors, sampling, the stop rule.

    from llmlab.generation import SamplingParams, sample_next
    next_ids = sample_next(logits, SamplingParams(temperature=0.8, top_k=50), previous=ids, generators=g)
    text = generate_text(model, tokenizer, "ROMEO:", SamplingParams(top_p=0.9, seed=0))   # a whole loop
    best = beam_search(model, prompt_ids, num_beams=4, max_new_tokens=50)
    checker = StopChecker(params, eos_token_ids(tokenizer, config))    # when it stops, and why (stopping.py)
No module here imports torch at the top (each imports it inside the function that runs a model), so
`import llmlab.generation` stays light for the CLI and the NumPy path (tests/test_layers.py).
"""

from llmlab.generation.beam import BeamResult, beam_search
from llmlab.generation.completion import Completion
from llmlab.generation.context_limit import context_length
from llmlab.generation.decode import Generation, generate, generate_text, iter_tokens
from llmlab.generation.params import SamplingParams
from llmlab.generation.processors import (
    apply_temperature,
    process_logits,
    repetition_penalty,
    top_k_filter,
    top_p_filter,
)
from llmlab.generation.sampling import make_generator, sample_next
from llmlab.generation.steppers import logits_of
from llmlab.generation.stopping import (
    FINISH_REASONS,
    LENGTH,
    STOP,
    StopChecker,
    eos_token_ids,
    find_stop,
    holdback,
)

__all__ = [
    "BeamResult", "beam_search", "Completion", "context_length",
    "Generation", "generate", "generate_text", "iter_tokens", "SamplingParams",
    "apply_temperature", "process_logits", "repetition_penalty", "top_k_filter", "top_p_filter",
    "make_generator", "sample_next", "logits_of",
    "FINISH_REASONS", "LENGTH", "STOP", "StopChecker", "eos_token_ids", "find_stop", "holdback",
]
