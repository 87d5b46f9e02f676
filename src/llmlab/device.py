"""`resolve_device(name)`: "auto" -> "cuda" when a GPU is visible, else "cpu"; a clear error for cuda without
one.

    device = resolve_device("auto")

In the ground layer because both `llmlab.hub.load_causal_lm` and the serving engine place models with it.
"""

from __future__ import annotations

from llmlab.errors import LabError


def resolve_device(name: str) -> str:
    import torch  # here, not at the top: importing llmlab.hub must not load torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LabError(f"device {name!r} asked for, but no CUDA GPU is visible", hint="use --device cpu")
    return name
