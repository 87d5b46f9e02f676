"""`EngineConfig`: every knob of the serving engine in one dataclass (`--set key=value` overrides it).

    cfg = apply_overrides(EngineConfig(model="runs/pretrain/tiny"), ["block_size=32", "max_num_seqs=128"])

Sizes left at 0 are derived from the model and the device when the engine starts (see `resolve`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmlab.errors import LabError

DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class EngineConfig:
    model: str = ""                    # a Hugging Face model directory (GPT-2 or Llama family)
    device: str = "auto"               # auto -> cuda when available, else cpu
    dtype: str = "auto"                # auto -> the checkpoint's dtype on a GPU, float32 on a CPU
    block_size: int = 16               # tokens per KV-cache block
    num_blocks: int = 0                # 0 -> from kv_cache_gb
    kv_cache_gb: float = 0.0           # 0 -> 1 GiB on a CPU, half the free memory (at most 20 GiB) on a GPU
    max_num_seqs: int = 128            # requests in the running batch at most
    max_batched_tokens: int = 2048     # token budget of one step, prefill and decode together
    max_model_len: int = 0             # 0 -> the model's context length
    enable_prefix_caching: bool = True
    cuda_graphs: bool = True           # decode (and short chunks) replayed as CUDA graphs on a GPU
    graph_max_rows: int = 128          # the largest batch of token rows captured as a graph
    rows_only: bool = False            # run small steps in the graph layout without graphs (for tests)
    triton_attention: bool = True      # on a GPU, paged attention for decode rows as a Triton kernel
    triton_max_chunk: int = 1          # graphed chunks of up to this many tokens per request use the kernel
                                       # too (1: decode only; more saves the gather's kernels on short
                                       # cached suffixes)
    seed: int = 0                      # for requests that sample without a seed of their own
    speculative: str = ""              # "ngram" (prompt lookup) or "draft:<model dir>"; "" -> none
    num_speculative_tokens: int = 4    # drafts verified per request per step

    def validate(self) -> EngineConfig:
        if self.dtype not in DTYPES:
            raise LabError(f"unknown dtype {self.dtype!r}", hint="choose one of " + ", ".join(DTYPES))
        if self.block_size < 1 or self.block_size & (self.block_size - 1):
            raise LabError(f"block_size must be a power of two, got {self.block_size}",
                           hint="use 16 (the default)")
        for name in ("max_num_seqs", "max_batched_tokens", "triton_max_chunk", "num_speculative_tokens"):
            if getattr(self, name) < 1:
                raise LabError(f"{name} must be at least 1, got {getattr(self, name)}", hint=f"raise {name}")
        if self.num_blocks < 0 or self.kv_cache_gb < 0 or self.max_model_len < 0:
            raise LabError("num_blocks, kv_cache_gb and max_model_len cannot be negative",
                           hint="leave them at 0 to size them automatically")
        return self

    def resolved(self, **sizes) -> EngineConfig:
        """A copy with the automatic sizes filled in (the engine writes this one to config.json)."""
        return replace(self, **sizes)


def resolve_dtype(name: str, device: str, checkpoint_dtype=None):
    import torch

    if name == "auto":
        if device.startswith("cuda") and checkpoint_dtype in (torch.bfloat16, torch.float16):
            return checkpoint_dtype
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)
