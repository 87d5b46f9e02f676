"""A Transformer from scratch in NumPy: GPT-2's layers with forward and backward passes, AdamW, a
training loop, KV-cache decoding, and Hugging Face GPT-2 weights in and out.

    from llmlab.numpy_transformer import GPT, GPTConfig
    model = GPT.from_pretrained("gpt2-dir"); logits = model(ids)
"""

from llmlab.numpy_transformer.kv_cache import KVCache
from llmlab.numpy_transformer.model import GPT, GPTConfig

__all__ = ["GPT", "GPTConfig", "KVCache"]
