"""How many tokens a model can attend over: the one rule every part of llmlab reads it by.

    context_length(model.config)              # GPT-2: n_positions; Llama, Qwen: max_position_embeddings
    context_length(model.config, tokenizer)       # else the tokenizer's model_max_length, when it states one

None when neither says (a recurrent or state-space model has no position limit): the caller decides what
that means (no window, or a LabError asking for the number) rather than a silent guess such as 1024.
"""

from __future__ import annotations

# transformers gives a tokenizer that never learnt its model's limit this model_max_length (int(1e30))
_UNSTATED = 10**18


def context_length(config, tokenizer=None) -> int | None:
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if value:
            return int(value)
    stated = getattr(tokenizer, "model_max_length", None)
    return int(stated) if stated and stated < _UNSTATED else None
