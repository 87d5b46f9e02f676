"""Decoding, shared by every generator in llmlab: SamplingParams, logits processors, sampling, stops.

    from llmlab.generation import SamplingParams, sample_next
    next_ids = sample_next(logits, SamplingParams(temperature=0.8, top_k=50), previous=ids, generators=g)
    text = generate_text(model, tokenizer, "ROMEO:", SamplingParams(top_p=0.9, seed=0))   # a whole loop
    best = beam_search(model, prompt_ids, num_beams=4, max_new_tokens=50)
"""

from llmlab.generation.beam import BeamResult, beam_search
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
from llmlab.generation.stop import find_stop, holdback

__all__ = ["BeamResult", "Generation", "SamplingParams", "beam_search", "generate", "generate_text", "iter_tokens", "apply_temperature", "find_stop", "holdback", "make_generator", "process_logits",
           "repetition_penalty", "sample_next", "top_k_filter", "top_p_filter"]
