"""Decoding, shared by every generator in llmlab: SamplingParams, logits processors, sampling, the stop rule.

    from llmlab.generation import SamplingParams, sample_next
    next_ids = sample_next(logits, SamplingParams(temperature=0.8, top_k=50), previous=ids, generators=g)
    text = generate_text(model, tokenizer, "ROMEO:", SamplingParams(top_p=0.9, seed=0))   # a whole loop
    best = beam_search(model, prompt_ids, num_beams=4, max_new_tokens=50)
    checker = StopChecker(params, eos_token_ids(tokenizer, config))    # when it stops, and why (stopping.py)
Names are imported on first use, so `SamplingParams` and the stop helpers do not pay for torch.
"""

from importlib import import_module

_WHERE = {
    "BeamResult": "beam", "beam_search": "beam",
    "Completion": "completion", "context_length": "context_limit",
    "Generation": "decode", "generate": "decode", "generate_text": "decode", "iter_tokens": "decode",
    "SamplingParams": "params",
    "apply_temperature": "processors", "process_logits": "processors", "repetition_penalty": "processors",
    "top_k_filter": "processors", "top_p_filter": "processors",
    "make_generator": "sampling", "sample_next": "sampling",
    "logits_of": "steppers",
    "FINISH_REASONS": "stopping", "LENGTH": "stopping", "STOP": "stopping", "StopChecker": "stopping",
    "eos_token_ids": "stopping", "find_stop": "stopping", "holdback": "stopping",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(import_module(f"llmlab.generation.{_WHERE[name]}"), name)
        globals()[name] = value          # later lookups skip this function
        return value
    raise AttributeError(f"module 'llmlab.generation' has no attribute {name!r}")
