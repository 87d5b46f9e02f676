"""`Module`: the one base class of the NumPy layers — named parameters, their gradients, and children.

A layer keeps its arrays in `params` and writes its gradients into `grads` (same keys) on `backward`;
`named_parameters()` walks the tree and yields Hugging Face-style dotted names ("h.0.attn.c_attn.weight").
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class Module:
    """Parameters in `params`, gradients in `grads`, sub-layers as attributes (or lists of them)."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)
        return value

    def children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, list | tuple) and value and all(isinstance(v, Module) for v in value):
                for i, child in enumerate(value):
                    yield f"{name}.{i}", child

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(dotted name, parameter, gradient) for every parameter below this module."""
        for name, value in self.params.items():
            yield prefix + name, value, self.grads[name]
        for name, child in self.children():
            yield from child.named_parameters(prefix + name + ".")

    def grads_of(self, name: str) -> np.ndarray:
        """The gradient of one parameter by its dotted name ("h.0.attn.c_attn.weight")."""
        for key, _, grad in self.named_parameters():
            if key == name:
                return grad
        raise KeyError(name)

    def zero_grad(self) -> None:
        for _, _, grad in self.named_parameters():
            grad.fill(0)

    def num_parameters(self) -> int:
        return sum(p.size for _, p, _ in self.named_parameters())
