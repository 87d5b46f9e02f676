"""Linear + cross-entropy in chunks of tokens: the lm_head and the loss together, without the (N, V) logits
or their float32 copy ever existing whole, and with the gradients computed in the same pass.

    loss = linear_cross_entropy(h, model.lm_head.weight, targets, chunk_size=16384)   # h: (B, T, d)
    use_chunked_loss(model, chunk_size=16384)   # model(input_ids=x, labels=y, shift_labels=y).loss does this

For each chunk of n tokens: z = h W^T (n, V, in the compute dtype), lse = logsumexp(z) in float32,
loss += sum(lse - z[target]), and since the loss is the graph's last node, its gradient is known now:
dL/dz = (softmax(z) - onehot(target)) / N_valid, so dL/dh = dz W and dL/dW += dz^T h are computed at once
and the chunk's logits are dropped. Backward only scales the two stored gradients by the incoming one.
The full logits are written once (bf16) and read twice instead of also being kept as float32 log-probs.
"""

from __future__ import annotations

import types
from typing import Any

import torch

IGNORE_INDEX = -100   # targets to skip, as in torch's and transformers' cross-entropy


class LinearCrossEntropy(torch.autograd.Function):
    """mean_i CE(h_i W^T, t_i) over the targets != IGNORE_INDEX; h (N, d), weight (V, d), targets (N,)."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_size: int,
                dtype: torch.dtype, with_grad: bool) -> torch.Tensor:
        # the softmax's dtype: float32 or wider
        acc = torch.promote_types(dtype, torch.float32)
        valid = targets != IGNORE_INDEX
        inv_count = 1.0 / valid.sum().clamp_min(1).to(acc)               # HF: mean over the valid targets
        w = weight.to(dtype)                                              # the autocast copy, made once
        loss = torch.zeros((), device=h.device, dtype=acc)
        grad_h, grad_w = [], None
        for start in range(0, h.shape[0], chunk_size):
            h_c = h[start:start + chunk_size].to(dtype)                  # (n, d)
            t_c, v_c = targets[start:start + chunk_size], valid[start:start + chunk_size]
            z = (h_c @ w.t()).to(acc)                                      # (n, V) logits, float32 math
            idx = t_c.clamp_min(0)[:, None]                                # (n, 1) target ids
            scale = v_c.to(acc)[:, None] * inv_count                       # (n, 1): 1/N_valid, 0 if ignored
            if not with_grad:  # evaluation: the loss alone
                loss = (
                    loss
                    + ((torch.logsumexp(z, dim=-1) - z.gather(1, idx).squeeze(1)) * scale.squeeze(1)).sum()
                )
                continue
            if torch.compiler.is_compiling():
                # pure pointwise + one row reduction: inductor makes it one pass over the logits
                lse = torch.logsumexp(z, dim=-1)                           # (n,)
                loss = loss + ((lse - z.gather(1, idx).squeeze(1)) * scale.squeeze(1)).sum()
                onehot = (idx == torch.arange(z.shape[1], device=z.device)[None, :]).to(acc)
                dz = ((torch.exp(z - lse[:, None]) - onehot) * scale).to(dtype)
            else:
                # eager: no (n, V) temporaries beyond the log-probabilities, updated in place
                logp = torch.log_softmax(z, dim=-1)                        # (n, V)
                loss = loss - (logp.gather(1, idx) * scale).sum()
                dz = logp.exp_()                                           # softmax
                dz.scatter_add_(1, idx, -v_c.to(acc)[:, None])             # - onehot(target), valid rows
                dz = dz.mul_(scale).to(dtype)                              # (n, V) dL/dz
            grad_h.append((dz @ w).to(h.dtype))                           # (n, d)
            part = (dz.t() @ h_c).to(weight.dtype)                        # (V, d)
            grad_w = part if grad_w is None else grad_w + part
        if with_grad:
            ctx.save_for_backward(torch.cat(grad_h), grad_w)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_out, grad_w * grad_out, None, None, None, None


def compute_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype autocast would run the lm_head matmul in here (bf16 under bf16 autocast), else t's own."""
    if torch.is_autocast_enabled(t.device.type):
        return torch.get_autocast_dtype(t.device.type)
    return t.dtype


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         chunk_size: int = 16384) -> torch.Tensor:
    """= F.cross_entropy((h @ weight.T).float(), targets) for h (..., d), targets (...), without the
    logits."""
    h2 = h.reshape(-1, h.shape[-1])                                        # (N, d)
    # else skip dz's matmuls
    with_grad = torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad)
    return LinearCrossEntropy.apply(h2, weight, targets.reshape(-1), chunk_size, compute_dtype(h2), with_grad)


def use_chunked_loss(model: torch.nn.Module, chunk_size: int) -> None:
    """Give this model instance a training forward: with `shift_labels`, run the base model and the chunked
    linear + cross-entropy, and return only the loss; any other call (generate, logits) is the model's own.

    It replaces the instance's `forward` (the class, `save_pretrained` and checkpoints are untouched), so
    the loss stays inside the call that torch.compile, DDP and FSDP wrap.
    """
    from transformers.modeling_outputs import CausalLMOutputWithPast

    own_forward = model.forward

    def forward(self: Any, input_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                shift_labels: torch.Tensor | None = None, **kwargs: Any) -> Any:
        if shift_labels is None:
            return own_forward(input_ids=input_ids, labels=labels, **kwargs)
        hidden = self.base_model(input_ids=input_ids, **kwargs).last_hidden_state           # (B, T, d)
        weight = self.get_output_embeddings().weight                                         # (V, d)
        return CausalLMOutputWithPast(loss=linear_cross_entropy(hidden, weight, shift_labels, chunk_size))

    model.forward = types.MethodType(forward, model)
