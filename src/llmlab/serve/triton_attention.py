"""Paged attention for token rows as one Triton kernel: no gathered copy of K/V (GPU only).

    kernel = load_kernel(device)      # None without Triton or when its self-check fails
    out = kernel(q, k_cache, v_cache, block_tables, context_lens, queries_per_table, scale)   # (R, H, D)

The torch path gathers every row's blocks into a dense (S, W*bs, Hkv, D) copy before attention, which
moves several times the bytes attention needs. Here one program handles one (row, head): it walks the
row's block table BLOCK_N keys at a time, reading K and V straight from their blocks, with the online
softmax of FlashAttention: for each tile, m' = max(m, max s), l' = l e^(m-m') + sum e^(s-m'),
acc' = acc e^(m-m') + sum e^(s-m') v; the output is acc / l.
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:            # CPU-only installs: the torch path serves
    triton = None

if triton is not None:
    @triton.jit
    def _rows_kernel(Q, K, V, Out, Tables, Lens, scale, sq_r, sq_h, sk_b, sk_s, sk_h, so_r, so_h, st_r,
                     QPT: tl.constexpr, GROUP: tl.constexpr, BS: tl.constexpr, D: tl.constexpr,
                     BLOCK_N: tl.constexpr):
        r = tl.program_id(0)
        h = tl.program_id(1)
        ctx = tl.load(Lens + r)
        d = tl.arange(0, D)
        q = tl.load(Q + r * sq_r + h * sq_h + d).to(tl.float32) * scale                   # (D,)
        table = Tables + (r // QPT) * st_r
        head = (h // GROUP) * sk_h
        m_i = tl.max(tl.full([BLOCK_N], float("-inf"), tl.float32), axis=0)
        l_i = tl.sum(tl.zeros([BLOCK_N], tl.float32), axis=0)
        acc = tl.zeros([D], tl.float32)
        for start in range(0, ctx, BLOCK_N):
            pos = start + tl.arange(0, BLOCK_N)
            valid = pos < ctx
            block = tl.load(table + pos // BS, mask=valid, other=0).to(tl.int64)
            offs = block[:, None] * sk_b + (pos % BS)[:, None] * sk_s + head + d[None, :]   # (BLOCK_N, D)
            k = tl.load(K + offs, mask=valid[:, None], other=0.0).to(tl.float32)
            s = tl.where(valid, tl.sum(k * q[None, :], axis=1), float("-inf"))             # (BLOCK_N,)
            m_new = tl.maximum(m_i, tl.max(s, axis=0))
            p = tl.exp(s - m_new)
            alpha = tl.exp(m_i - m_new)
            v = tl.load(V + offs, mask=valid[:, None], other=0.0).to(tl.float32)
            acc = acc * alpha + tl.sum(p[:, None] * v, axis=0)
            l_i = l_i * alpha + tl.sum(p, axis=0)
            m_i = m_new
        tl.store(Out + r * so_r + h * so_h + d, (acc / l_i).to(Out.dtype.element_ty))


def paged_rows_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                         block_tables: torch.Tensor,
                         context_lens: torch.Tensor, queries_per_table: int, scale: float) -> torch.Tensor:
    """q (R, H, D); caches (NB, bs, Hkv, D); block_tables (S, W); context_lens (R,) -> (R, H, D)."""
    rows, n_head, d = q.shape
    out = torch.empty_like(q)
    q = q if q.stride(-1) == 1 else q.contiguous()
    _rows_kernel[(rows, n_head)](
        q, k_cache, v_cache, out, block_tables, context_lens, scale,
        q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        out.stride(0), out.stride(1), block_tables.stride(0),
        QPT=queries_per_table, GROUP=n_head // k_cache.shape[2], BS=k_cache.shape[1], D=d, BLOCK_N=64,
        num_warps=4)
    return out


def load_kernel(device: torch.device, n_head: int, n_kv_head: int, head_dim: int, block_size: int,
                dtype: torch.dtype):
    """The kernel, if Triton is installed and it agrees with the torch path on this model's shapes; else
    None (and the reason in `load_kernel.why`)."""
    load_kernel.why = ""
    if triton is None or device.type != "cuda":
        load_kernel.why = "no Triton" if triton is None else "not a GPU"
        return None
    if head_dim & (head_dim - 1):
        load_kernel.why = f"head_dim {head_dim} is not a power of two"
        return None
    try:
        from llmlab.serve.paged_attention import AttentionBatch, paged_attention

        g = torch.Generator(device=device).manual_seed(0)
        nb, rows, qpt = 12, 6, 2
        kc = torch.randn(nb, block_size, n_kv_head, head_dim, device=device, generator=g).to(dtype)
        vc = torch.randn(nb, block_size, n_kv_head, head_dim, device=device, generator=g).to(dtype)
        q = torch.randn(rows, n_head, head_dim, device=device, generator=g).to(dtype)
        tables = torch.randint(1, nb, (rows // qpt, 4), device=device, generator=g)
        lens = torch.tensor([1, 2, block_size + 3, block_size + 4, 4 * block_size - 1, 4 * block_size],
                            device=device)
        batch = AttentionBatch(torch.zeros(rows, dtype=torch.long, device=device), rows, tables, lens, qpt,
                               block_size=block_size)
        want = paged_attention(q, q, q, (kc, vc), batch, batch.masks(), 0.125)
        got = paged_rows_attention(q, kc, vc, tables, lens, qpt, 0.125)
        tol = 1e-4 if dtype == torch.float32 else 3e-2
        if not torch.allclose(got.float(), want.float(), atol=tol, rtol=tol):
            load_kernel.why = (f"self-check failed (max diff "
                               f"{(got.float() - want.float()).abs().max().item():.3g})")
            return None
    except Exception as exc:           # a Triton/driver mismatch must not take the server down
        load_kernel.why = f"{type(exc).__name__}: {exc}"[:200]
        return None
    return paged_rows_attention


load_kernel.why = ""
