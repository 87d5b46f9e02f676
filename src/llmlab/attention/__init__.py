"""Project 6: look inside attention. Capture every head's probabilities from any HF causal LM or the NumPy
GPT, measure each head (entropy, distance, sink, previous-token, induction, ...), and draw them.

    from llmlab.attention import load_attention_model, head_metrics
    cap = load_attention_model("gpt2").capture_text("The cat sat on the mat"); head_metrics(cap.probs)
See docs/attention.md.
"""

from llmlab.attention.capture import (
    AttentionCapture,
    AttentionModel,
    HFAttentionModel,
    NumpyAttentionModel,
    load_attention_model,
)
from llmlab.attention.metrics import classify_heads, head_metrics, repeated_random_ids, repetition_scores

__all__ = ["AttentionCapture", "AttentionModel", "HFAttentionModel", "NumpyAttentionModel", "classify_heads",
           "head_metrics", "load_attention_model", "repeated_random_ids", "repetition_scores"]
