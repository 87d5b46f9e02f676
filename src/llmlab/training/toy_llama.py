"""A tiny Llama for the lab's small models that must copy from their prompt (the lab model): rotary positions,
RMSNorm, a SwiGLU MLP, tied embeddings, as a plain Hugging Face LlamaForCausalLM.

    model = build_toy_llama(shape, vocab_size=1024, n_positions=1024)

`shape` is any preset with n_layer, n_head, n_embd (and optionally n_inner: the MLP width, 4 x n_embd when
absent). Why a Llama and not the GPT-2 of toy_gpt.py: copying a token from the prompt takes an induction
circuit, whose first half is a head that looks one token back. With rotary positions "one token back" is the
same rotation at every position, so that head forms within a few hundred steps; with GPT-2's learned
position table it must be learned position by position, and at this size it had not formed after 1,500 steps
of pure copy drills (docs/results.md, chat).
"""

from __future__ import annotations

from typing import Any


def build_toy_llama(shape: Any, vocab_size: int, n_positions: int):
    """LlamaForCausalLM with one K/V head per query head, the embedding tied to the unembedding (a copied
    token is read and written with the same vectors), and no special token ids of its own (the caller sets
    them from its tokenizer)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    n_inner = getattr(shape, "n_inner", None) or 4 * shape.n_embd
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab_size, hidden_size=shape.n_embd, num_hidden_layers=shape.n_layer,
        num_attention_heads=shape.n_head, num_key_value_heads=shape.n_head, intermediate_size=n_inner,
        max_position_embeddings=n_positions, initializer_range=0.02, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=None, pad_token_id=None))
