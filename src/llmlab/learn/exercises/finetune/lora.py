"""Exercise `lora`: a LoRA layer — a frozen linear layer plus a trainable low-rank update, mergeable into W.

Check it with `llmlab learn check finetune lora` (the initial state; the forward, the gradients of A and B
and the merged weights of a tiny GPT-2 against PEFT's LoRA with the same factors; merge and unmerge by hand).
GPT-2's attention and MLP layers are `Conv1D`s (transformers.pytorch_utils): a linear layer whose weight is
stored TRANSPOSED, (in, out), computing y = x W + b. nn.Linear stores (out, in) and computes y = x Wᵀ + b.
Your class must handle both; `layer_shape(base)` gives (in, out) for either, `_is_conv1d(base)` tells them
apart.
"""

from __future__ import annotations

import math  # noqa: F401 - for your code: math.sqrt(5)

import torch
import torch.nn.functional as F  # noqa: F401 - for your code: F.linear(x, W) = x Wᵀ
from torch import nn

from llmlab.errors import LabError  # noqa: F401 - for your code: refuse r < 1
from llmlab.finetune.lora import _is_conv1d, layer_shape  # noqa: F401 - for your code


class LoRALinear(nn.Module):
    """y = base(x) + (alpha / r) · B A dropout(x); the base layer is frozen, only A and B train.

    The update (Hu et al. 2021) for a frozen layer with weight W of shape (out, in):

        y = W x + b + s · B (A dropout(x)),     s = alpha / r,   A: (r, in),   B: (out, r)

    Only r · (in + out) numbers train instead of in · out: for GPT-2's c_attn (768 -> 2304) at r = 8,
    24,576 instead of 1,769,472.
    """

    def __init__(self, base: nn.Module, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        """Wrap `base` (an nn.Linear or a GPT-2 Conv1D). Set, with these exact names (PEFT's factors are
        copied into them, and llmlab's pipeline reads them):

            self.base, self.r, self.alpha, self.scaling = alpha / r
            self.fan_in_fan_out = _is_conv1d(base)        (True: base.weight is (in, out))
            self.lora_A = nn.Parameter (r, in),  Kaiming-uniform with a = √5, as nn.Linear and PEFT
                          (nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5)): U(-1/√in, 1/√in))
            self.lora_B = nn.Parameter (out, r), ZEROS, so the wrapped layer starts equal to the base one
            self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
            self.merged = False
        and freeze every parameter of the base (requires_grad False). A and B take the base weight's dtype
        and device. r < 1 is refused with a LabError.
        Example: base = Conv1D(nf=12, nx=8) (in 8, out 12), r = 4, alpha = 8 -> scaling 2.0,
                 lora_A (4, 8) in [-0.354, 0.354], lora_B (12, 4) all 0, 80 trainable numbers.
        """
        super().__init__()
        raise NotImplementedError("LoRALinear.__init__")

    def delta_weight(self) -> torch.Tensor:
        """s · B A shaped like the base weight: (out, in) for nn.Linear, its transpose (in, out) for Conv1D.

        Example: B = [[1], [2]] (out 2, r 1), A = [[3, 4, 5]] (r 1, in 3), s = 0.5 ->
                 s B A = [[1.5, 2, 2.5], [3, 4, 5]] (2, 3) for nn.Linear; [[1.5, 3], [2, 4], [2.5, 5]] for
                 Conv1D.
        """
        raise NotImplementedError("LoRALinear.delta_weight")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """base(x) plus, unless merged, s · (dropout(x) Aᵀ) Bᵀ.

        Shapes: x (..., in) -> (..., r) -> (..., out). Never build the (out, in) product B A here: two thin
        matmuls cost r (in + out) per token instead of in · out. Once merged, the update is inside
        base.weight already: return base(x) alone.
        """
        raise NotImplementedError("LoRALinear.forward")

    def merge(self) -> None:
        """Fold the update into the frozen weight: base.weight += delta_weight() (under torch.no_grad()),
        then merged = True. Merging a merged layer changes nothing. Afterwards forward(x) gives the same
        result with one matmul, and the model can be saved as a plain one."""
        raise NotImplementedError("LoRALinear.merge")

    def unmerge(self) -> None:
        """Undo merge: base.weight -= delta_weight(), merged = False (nothing when not merged)."""
        raise NotImplementedError("LoRALinear.unmerge")
