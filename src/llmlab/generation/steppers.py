"""One token at a time through any llmlab model: `stepper_for(model)` hides how each kind keeps its past.

    stepper = stepper_for(model)
    logits = stepper.prefill(ids)        # ids (B, T) -> logits of the next token (B, V)
    logits = stepper.step(next_ids)      # next_ids (B,) -> (B, V)
    stepper.reorder(index)               # keep rows `index` (beam search)

- Hugging Face causal LMs: the KV cache; past the position limit, a sliding window recomputed each step.
- stateful modules (`model.stateful = True`, forward(ids, state) -> (logits, state), state batch-first
  on dim 1 as torch.nn.RNN/LSTM/GRU keep it): the hidden state, any length.
- any other module mapping ids (B, T) to logits (B, T, V): recomputed over the last `context` tokens.
- a model with its own `make_stepper(context)` (the NumPy Transformer and its KV cache): that stepper.
torch is imported by the torch steppers only, so the NumPy Transformer's decoding never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmlab.generation.context_limit import context_length

if TYPE_CHECKING:
    import torch


def logits_of(output) -> torch.Tensor:
    """Logits from whatever a model returns: an HF output, a (logits, state) tuple, or a tensor."""
    if hasattr(output, "logits"):
        return output.logits
    return output[0] if isinstance(output, tuple | list) else output


def _cache_of(output):
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


class WindowStepper:
    """Recompute everything over the last `context` tokens: slow, but right for any model."""

    def __init__(self, model: torch.nn.Module, context: int | None):
        self.model, self.context = model, context

    def _forward(self) -> torch.Tensor:
        ids = self.ids if self.context is None else self.ids[:, -self.context:]
        return logits_of(self.model(ids))[:, -1].float()

    def prefill(self, ids: torch.Tensor) -> torch.Tensor:
        self.ids = ids
        return self._forward()

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        import torch

        self.ids = torch.cat([self.ids, next_ids[:, None]], dim=1)
        return self._forward()

    def reorder(self, index: torch.Tensor) -> None:
        self.ids = self.ids[index]


class HFStepper(WindowStepper):
    """KV cache while the sequence fits the model's positions; a sliding window after that."""

    def __init__(self, model: torch.nn.Module):
        super().__init__(model, context_length(model.config))
        self.cache = None
        # transformers renamed `past_key_values` to `cache` (5.2x); accept both spellings
        import inspect

        self.cache_arg = (
            "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        )

    def _forward(self) -> torch.Tensor:  # the window path, once past the limit
        self.cache = None
        ids = self.ids[:, -self.context:] if self.context else self.ids
        return self.model(input_ids=ids, use_cache=False).logits[:, -1].float()

    def prefill(self, ids: torch.Tensor) -> torch.Tensor:
        self.ids = ids
        if self.context and ids.shape[1] > self.context:
            return self._forward()
        out = self.model(input_ids=ids, use_cache=True)
        self.cache = _cache_of(out)
        return out.logits[:, -1].float()

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        import torch

        self.ids = torch.cat([self.ids, next_ids[:, None]], dim=1)
        if self.cache is None or (self.context and self.ids.shape[1] > self.context):
            return self._forward()
        out = self.model(input_ids=next_ids[:, None], use_cache=True, **{self.cache_arg: self.cache})
        self.cache = _cache_of(out)
        return out.logits[:, -1].float()

    def reorder(self, index: torch.Tensor) -> None:
        self.ids = self.ids[index]
        if self.cache is not None:
            self.cache.reorder_cache(index)


class StateStepper:
    """Recurrent models: the hidden state carries the whole past, so each step costs the same."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.state = model, None

    def prefill(self, ids: torch.Tensor) -> torch.Tensor:
        logits, self.state = self.model(ids, None)
        return logits[:, -1].float()

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        logits, self.state = self.model(next_ids[:, None], self.state)
        return logits[:, -1].float()

    def reorder(self, index: torch.Tensor) -> None:
        if isinstance(self.state, tuple):
            self.state = tuple(s.index_select(1, index) for s in self.state)
        elif self.state is not None:
            self.state = self.state.index_select(1, index)


def stepper_for(model: torch.nn.Module, context: int | None = None):
    if hasattr(model, "make_stepper"):
        return model.make_stepper(context)
    if hasattr(model, "config") and hasattr(model, "generation_config"):
        return HFStepper(model)
    if getattr(model, "stateful", False):
        return StateStepper(model)
    return WindowStepper(model, context or getattr(model, "block_size", None))


def model_device(model: torch.nn.Module) -> torch.device | None:
    """Where the model's tensors live; None for a NumPy model (its logits are NumPy arrays, no torch)."""
    if not hasattr(model, "parameters"):
        return None
    return next(model.parameters()).device
