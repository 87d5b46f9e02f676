"""Exercise `capture`: take every head's attention probabilities out of a Hugging Face model with forward
hooks.

Check it with `llmlab learn check attention capture` (your probabilities against P rebuilt by hand from each
layer's q and k — `llmlab.attention.reference.recompute_attention` — on a tiny random GPT-2 and a tiny Llama).

A forward hook is a function torch calls after a module's forward: `handle =
module.register_forward_hook(fn)`,
`fn(module, args, output)`, and `handle.remove()` takes it off again. Under eager attention each attention
module of GPT-2, Llama, Qwen, ... returns the pair (output, P), P = softmax(q kᵀ/√d + mask), (B, H, T, T).
Given: `attention_modules(model)`, the model's attention modules, first layer first.
"""

from __future__ import annotations

import numpy as np

from llmlab.attention.hooks import attention_modules  # noqa: F401 - for your code


def capture_attention(model, ids) -> np.ndarray:
    """Run `model` once on `ids` and return what each attention module's hook saw, stacked over layers.

        probs[l, b, h, i, j] = P of layer l, sequence b, head h: how much query i reads key j (rows sum to 1,
                               0 above the diagonal)
    Three traps, each checked:
      * the model may run fused SDPA attention (model.config._attn_implementation == "sdpa"), which never
        forms P: output[1] is None. Switch with model.set_attn_implementation("eager") for the capture and
        put the previous implementation back afterwards.
      * remove every hook you registered, even if the forward raises (try/finally): a hook left behind
        runs on every later forward of the model.
      * P is after the softmax: probabilities, not the scores q kᵀ/√d.
    Run under torch.no_grad() with use_cache=False; the ids go on the model's device
    (next(model.parameters()).device).

    Shapes: ids (B, T) ints -> (L, B, H, T, T) float32 NumPy array.
    Example: a 2-layer, 4-head GPT-2 on ids of shape (2, 11) -> (2, 2, 4, 11, 11); probs[l, b, h, 0] is
             [1, 0, 0, ...] (the first token can only read itself).
    """
    raise NotImplementedError("capture_attention")
