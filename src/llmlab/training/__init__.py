"""The shared causal-LM training loop: `TrainConfig`, `Trainer`, batch sources, schedule, FLOPs.

    from llmlab.training import TrainConfig, Trainer, TokenWindows
    summary = Trainer(model, TrainConfig(max_steps=500), run, TokenWindows(train_ids, 256, 32)).fit()
See docs/training.md.
"""

from llmlab.training.batches import BatchSource, TokenWindows
from llmlab.training.config import TrainConfig
from llmlab.training.flops import count_params, device_peak_flops, flops_per_token
from llmlab.training.schedule import lr_at
from llmlab.training.trainer import Trainer, causal_lm_loss, hf_causal_lm_loss, logits_of

__all__ = ["BatchSource", "TokenWindows", "TrainConfig", "Trainer", "causal_lm_loss", "count_params",
           "device_peak_flops", "flops_per_token", "hf_causal_lm_loss", "logits_of", "lr_at"]
