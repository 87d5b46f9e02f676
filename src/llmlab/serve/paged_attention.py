"""The paged KV cache and attention over it: K/V live in fixed-size blocks, a block table says which.

    kv = PagedKVCache(n_layer=2, num_blocks=64, block_size=16, n_kv_head=4, head_dim=8, dtype, device)
    kv.write(layer, k, v, slot_mapping)          # token t goes to slot = block * block_size + offset
    out = paged_attention(q, k, v, kv.layer(layer), batch, batch.masks(), scale)

A request's tokens need not sit next to each other in memory: position p of a request lives in block
`block_table[p // block_size]` at offset `p % block_size`. Three layouts, chosen per token:
- rows: tokens grouped per request (`queries_per_table` each: 1 when decoding), each attending to the
  first `context_len` positions of its request's blocks (on a GPU: every token of a small step, as one
  CUDA graph; decode rows through the Triton kernel of triton_attention.py when it is loaded);
- fresh prompts (start 0): padded into one batch, one causal attention call over their own new K/V;
- continuations (start > 0: a prefix-cache hit, a later chunk of a long prompt): the cached context is
  gathered once and attended with a causal mask offset by the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

NULL_BLOCK = 0   # never handed to a request: padded rows write here and padded table entries point here


class PagedKVCache:
    """data: (n_layer, 2, num_blocks, block_size, n_kv_head, head_dim), zero-filled so padding is finite."""

    def __init__(self, n_layer: int, num_blocks: int, block_size: int, n_kv_head: int, head_dim: int,
                 dtype: torch.dtype, device: str | torch.device):
        self.block_size, self.num_blocks = block_size, num_blocks
        self.data = torch.zeros(n_layer, 2, num_blocks, block_size, n_kv_head, head_dim, dtype=dtype,
                                device=device)

    def layer(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data[i, 0], self.data[i, 1]

    def write(self, i: int, k: torch.Tensor, v: torch.Tensor, slot_mapping: torch.Tensor) -> None:
        """k, v (T, Hkv, D) -> their slots in layer i (one scatter each, no Python loop)."""
        kc, vc = self.layer(i)
        kc.view(-1, *kc.shape[2:]).index_copy_(0, slot_mapping, k)
        vc.view(-1, *vc.shape[2:]).index_copy_(0, slot_mapping, v)


@dataclass
class Segment:
    offset: int              # its first row in the flat batch
    length: int              # new tokens
    start: int               # position of the first new token; positions < start are already cached
    slots: torch.Tensor | None = None   # (start + length,) cache slots of the whole context, when start > 0


@dataclass
class AttentionBatch:
    """Which tokens attend how. The flat batch is ordered: rows, then fresh segments, then the others.

    rows: R = S * qpt tokens in S groups of `queries_per_table`, group s reading block_tables[s];
    padding rows have context length 1 and write to the null block.
    """
    slot_mapping: torch.Tensor                 # (T,) where each new token's K/V goes
    num_rows: int = 0                          # tokens [0, R) attend through block tables
    block_tables: torch.Tensor | None = None   # (S, W) block ids, padded with NULL_BLOCK
    context_lens: torch.Tensor | None = None   # (R,) how many positions each row sees (its own included)
    queries_per_table: int = 1                 # rows per block table: 1 when decoding
    segments: list[Segment] = field(default_factory=list)   # tokens [R, T), one chunk per request
    block_size: int = 16
    kernel: Any = None                         # a paged-attention kernel for the rows (Triton, on a GPU)

    def masks(self) -> dict:
        """Masks and index tensors (True = attend), built once per forward and shared by all layers."""
        dev = self.slot_mapping.device
        out: dict = {"rows": None, "fresh": None, "segments": []}
        if self.num_rows and self.kernel is None:
            s, qpt = self.block_tables.shape[0], self.queries_per_table
            length = self.block_tables.shape[1] * self.block_size
            keys = torch.arange(length, device=dev)
            out["rows"] = (keys < self.context_lens.view(s, qpt, 1)).view(s, 1, qpt, length)
        fresh = [seg for seg in self.segments if seg.start == 0]
        if fresh:
            out["fresh"] = _fresh_layout(fresh, dev)
        for seg in self.segments[len(fresh):]:
            ctx = seg.start + seg.length
            keys = torch.arange(ctx, device=dev)
            queries = seg.start + torch.arange(seg.length, device=dev)
            out["segments"].append(keys[None, :] <= queries[:, None])          # (n, ctx)
        return out


def _fresh_layout(fresh: list[Segment], dev) -> dict:
    """Prompts starting at position 0 attend only to themselves: pad them into one (G, Lmax) batch so one
    causal attention call serves all of them, instead of one call per prompt."""
    first, lmax = fresh[0].offset, max(seg.length for seg in fresh)
    if all(seg.length == lmax for seg in fresh):       # equal lengths: a reshape, no padding, no mask
        return {"first": first, "G": len(fresh), "L": lmax, "index": None, "inverse": None, "mask": None}
    index, inverse = [], []
    for g, seg in enumerate(fresh):
        rows = list(range(seg.offset - first, seg.offset - first + seg.length))
        index.extend(rows + [rows[0]] * (lmax - seg.length))       # padding repeats a real row
        inverse.extend(range(g * lmax, g * lmax + seg.length))
    lens = torch.tensor([seg.length for seg in fresh], device=dev)
    ar = torch.arange(lmax, device=dev)
    mask = (ar[None, :] <= ar[:, None])[None] & (ar[None, None, :] < lens[:, None, None])   # (G, L, L)
    return {"first": first, "G": len(fresh), "L": lmax, "index": torch.tensor(index, device=dev),
            "inverse": torch.tensor(inverse, device=dev), "mask": mask[:, None]}


def _expand_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, Hkv, L, D) -> (B, H, L, D): grouped-query attention shares each K/V head among H/Hkv queries."""
    b, hkv, length, d = x.shape
    if hkv == n_head:
        return x
    return x[:, :, None].expand(b, hkv, n_head // hkv, length, d).reshape(b, n_head, length, d)


def paged_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cache: tuple[torch.Tensor,
                                                                                    torch.Tensor],
                    batch: AttentionBatch, masks: dict, scale: float) -> torch.Tensor:
    """q (T, H, D), the new k, v (T, Hkv, D) (already written to the cache) -> attention output (T, H, D)."""
    n_head, d = q.shape[1], q.shape[2]
    k_cache, v_cache = cache                                      # (NB, bs, Hkv, D)
    outs = []
    if batch.num_rows:
        r = batch.num_rows
        if batch.kernel is not None:       # reads the blocks in place: no gathered copy of K/V
            outs.append(batch.kernel(q[:r], k_cache, v_cache, batch.block_tables, batch.context_lens,
                                     batch.queries_per_table, scale))
        else:
            s, qpt = batch.block_tables.shape[0], batch.queries_per_table
            kr = k_cache[batch.block_tables].flatten(1, 2).transpose(1, 2)     # (S, Hkv, W*bs, D)
            vr = v_cache[batch.block_tables].flatten(1, 2).transpose(1, 2)
            qr = q[:r].view(s, qpt, n_head, d).transpose(1, 2)                   # (S, H, qpt, D)
            o = F.scaled_dot_product_attention(qr, _expand_heads(kr, n_head), _expand_heads(vr, n_head),
                                               attn_mask=masks["rows"], scale=scale)
            outs.append(o.transpose(1, 2).reshape(r, n_head, d))              # (R, H, D)
    fresh = masks["fresh"]
    if fresh is not None:
        g, length, first = fresh["G"], fresh["L"], fresh["first"]
        rows = slice(first, first + sum(seg.length for seg in batch.segments[:g]))
        qf, kf, vf = q[rows], k[rows], v[rows]                                  # (n, H|Hkv, D)
        if fresh["index"] is not None:
            qf, kf, vf = qf[fresh["index"]], kf[fresh["index"]], vf[fresh["index"]]
        qf = qf.view(g, length, n_head, d).transpose(1, 2)                     # (G, H, L, D)
        kf = _expand_heads(kf.view(g, length, -1, d).transpose(1, 2), n_head)
        vf = _expand_heads(vf.view(g, length, -1, d).transpose(1, 2), n_head)
        o = F.scaled_dot_product_attention(qf, kf, vf, attn_mask=fresh["mask"],
                                           is_causal=fresh["mask"] is None,
                                           scale=scale)
        o = o.transpose(1, 2).reshape(g * length, n_head, d)
        outs.append(o if fresh["inverse"] is None else o[fresh["inverse"]])
    rest = batch.segments[fresh["G"]:] if fresh is not None else batch.segments
    for seg, mask in zip(rest, masks["segments"], strict=True):
        rows = slice(seg.offset, seg.offset + seg.length)
        qs = q[rows].transpose(0, 1).unsqueeze(0)                           # (1, H, n, D)
        ks = k_cache.flatten(0, 1).index_select(0, seg.slots)               # (ctx, Hkv, D)
        vs = v_cache.flatten(0, 1).index_select(0, seg.slots)
        ks = _expand_heads(ks.transpose(0, 1).unsqueeze(0), n_head)
        vs = _expand_heads(vs.transpose(0, 1).unsqueeze(0), n_head)
        o = F.scaled_dot_product_attention(qs, ks, vs, attn_mask=mask, scale=scale)
        outs.append(o[0].transpose(0, 1))                                   # (n, H, D)
    return outs[0] if len(outs) == 1 else torch.cat(outs)
