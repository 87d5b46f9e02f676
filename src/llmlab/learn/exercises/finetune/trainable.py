"""Exercise `trainable`: counting the parameters a fine-tune trains, and the share of the model they are.

Check it with `llmlab learn check finetune trainable` (against PEFT's get_nb_trainable_parameters on a
tiny GPT-2 with LoRA, and on the same model fully trainable and partly frozen). GPT-2 TIES its input
embedding and its output head: model.transformer.wte.weight and model.lm_head.weight are ONE tensor,
which must be counted once.
"""

from __future__ import annotations

from torch import nn


def trainable_parameters(model: nn.Module) -> dict[str, int | float]:
    """{"trainable_params": numbers with requires_grad, "total_params": all numbers,
        "trainable_share": round(trainable / total, 6)}   (0.0 for a model without parameters)

    A tensor shared by two modules (tied weights) counts once: model.parameters() already yields each
    parameter object once (remove_duplicate=True); walking every module's own parameters would not.
    Example: a GPT-2 with vocab 64, width 32, 2 layers, 32 positions has 28,544 numbers (the 2,048 of the
    tied head once; all train -> share 1.0). With LoRA r = 4 on c_attn, c_proj and c_fc (4 · (in + out)
    per layer: 512 + 256 + 640 + 640 per block) it has 28,544 + 4,096, of which 4,096 train -> 0.12549.
    """
    raise NotImplementedError("trainable_parameters")
