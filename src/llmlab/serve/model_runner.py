"""From a scheduled step to logits: flatten the requests' new tokens, run the model, pick the rows to sample.

    logits, sampled = runner.execute([(req, n_new), ...])   # logits (S, V) for the S requests that sample

Every index the model needs (token ids, positions, cache slots, block tables, context lengths) is packed
into one int64 tensor and copied to the device in one transfer. On a GPU, a step whose tokens are few
(decoding, short cached suffixes) runs as a replayed CUDA graph: one launch instead of hundreds, which is
what decode at small batch is bound by. Graphs are captured lazily, one per (rows, blocks) bucket.
"""

from __future__ import annotations

import time

import torch

from llmlab.serve.model import PagedCausalLM
from llmlab.serve.paged_attention import NULL_BLOCK, AttentionBatch, PagedKVCache, Segment
from llmlab.serve.request import Request

ROW_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)
GRAPH_MAX_KEYS = 64 * 1024     # rows x gathered positions above which a graph step would move too much memory


def _bucket(n: int, buckets) -> int:
    for b in buckets:
        if b >= n:
            return b
    return n


def _pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


class _Graph:
    """One captured forward over `rows` token rows and `width` blocks per row, with static inputs."""

    def __init__(self, runner: ModelRunner, rows: int, width: int):
        dev = runner.device
        self.rows, self.width = rows, width
        self.packed = torch.zeros(rows * 4 + rows * width, dtype=torch.long, device=dev)
        ids, pos, slots, lens, tables = _views(self.packed, rows, width)
        lens.fill_(1)
        self.batch = AttentionBatch(slots, rows, tables, lens, block_size=runner.block_size)
        fwd = lambda: runner.model.forward(ids, pos, self.batch, runner.kv)   # noqa: E731
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):            # warm up (allocations, kernel selection) off the graph
            for _ in range(2):
                fwd()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=runner.graph_pool):
            self.out = fwd()                       # (rows, C), lives in the graph's memory pool

    def run(self, packed_cpu: torch.Tensor) -> torch.Tensor:
        self.packed.copy_(packed_cpu, non_blocking=True)
        self.graph.replay()
        return self.out


def _views(packed: torch.Tensor, rows: int, width: int):
    ids, pos, slots, lens = (packed[i * rows:(i + 1) * rows] for i in range(4))
    return ids, pos, slots, lens, packed[4 * rows:4 * rows + rows * width].view(rows, width)


class ModelRunner:
    def __init__(self, model: PagedCausalLM, kv: PagedKVCache, max_blocks_per_seq: int,
                 cuda_graphs: bool = True, graph_max_rows: int = 128, rows_only: bool = False):
        self.model, self.kv = model, kv
        self.block_size = kv.block_size
        self.device = model.device
        self.max_blocks = max_blocks_per_seq
        self.use_graphs = cuda_graphs and self.device.type == "cuda"
        # rows_only runs the graph path's layout without capturing (tests check it on a CPU)
        self.rows_only = rows_only
        self.graph_max_rows = graph_max_rows
        self.graphs: dict[tuple[int, int], _Graph] = {}
        self.graph_pool = torch.cuda.graph_pool_handle() if self.use_graphs else None
        self.capture_seconds = 0.0
        self.graph_steps = self.eager_steps = 0

    def _slot(self, req: Request, p: int) -> int:
        return req.block_ids[p // self.block_size] * self.block_size + p % self.block_size

    @torch.inference_mode()
    def execute(self, scheduled: list[tuple[Request, int]]) -> tuple[torch.Tensor | None, list[Request]]:
        total = sum(n for _, n in scheduled)
        width = _pow2(max(-(-(r.num_computed + n) // self.block_size) for r, n in scheduled))
        width = min(width, self.max_blocks)
        rows = _bucket(total, ROW_BUCKETS)
        if ((self.use_graphs or self.rows_only) and rows <= self.graph_max_rows
                and rows * width * self.block_size <= GRAPH_MAX_KEYS):
            hidden, last_rows, sampled = self._graph_step(scheduled, total, rows, width)
            self.graph_steps += 1
        else:
            hidden, last_rows, sampled = self._eager_step(scheduled)
            self.eager_steps += 1
        if not sampled:
            return None, []
        if last_rows == list(range(len(last_rows))):
            picked = hidden[:len(last_rows)]            # decode: every row samples, no gather needed
        else:
            picked = hidden[torch.tensor(last_rows, device=self.device)]
        return self.model.logits(picked), sampled

    def _graph_step(self, scheduled, total: int, rows: int, width: int):
        """Every new token is a row with its own context length: causal masking falls out of the lengths."""
        ids, pos, slots, lens, tables, last_rows, sampled = [], [], [], [], [], [], []
        for req, n in scheduled:
            c = req.num_computed
            table = req.block_ids[:width] + [NULL_BLOCK] * (width - len(req.block_ids))
            for p in range(c, c + n):
                ids.append(req.token_ids[p])
                pos.append(p)
                slots.append(self._slot(req, p))
                lens.append(p + 1)
                tables.extend(table)
            if c + n == req.num_tokens:
                last_rows.append(len(ids) - 1)
                sampled.append(req)
        pad = rows - total
        packed = (ids + [0] * pad + pos + [0] * pad + slots + [NULL_BLOCK * self.block_size] * pad
                  + lens + [1] * pad + tables + [NULL_BLOCK] * (pad * width))
        packed = torch.tensor(packed, dtype=torch.long)
        if not self.use_graphs:
            ids, pos, slots, lens, tables = _views(packed.to(self.device), rows, width)
            batch = AttentionBatch(slots, rows, tables, lens, block_size=self.block_size)
            return self.model.forward(ids, pos, batch, self.kv), last_rows, sampled
        key = (rows, width)
        graph = self.graphs.get(key)
        if graph is None:
            start = time.perf_counter()
            graph = self.graphs[key] = _Graph(self, rows, width)
            self.capture_seconds += time.perf_counter() - start
        return graph.run(packed), last_rows, sampled

    def _eager_step(self, scheduled):
        """Decode tokens as rows (one batched attention); prefill chunks as causal segments."""
        decode = [(r, n) for r, n in scheduled if n == 1]
        chunks = [(r, n) for r, n in scheduled if n > 1]
        ordered = decode + chunks
        width = _pow2(max((-(-(r.num_computed + 1) // self.block_size) for r, _ in decode), default=1))
        ids, pos, slots, last_rows, sampled = [], [], [], [], []
        for req, n in ordered:
            c = req.num_computed
            ids.extend(req.token_ids[c:c + n])
            pos.extend(range(c, c + n))
            slots.extend(self._slot(req, p) for p in range(c, c + n))
            if c + n == req.num_tokens:
                last_rows.append(len(ids) - 1)
                sampled.append(req)
        total = len(ids)
        r = len(decode)
        lens = [req.num_computed + 1 for req, _ in decode]
        tables = []
        for req, _ in decode:
            tables.extend(req.block_ids[:width] + [NULL_BLOCK] * (width - len(req.block_ids)))
        ctx_slots, seg_specs = [], []
        offset = r
        for req, n in chunks:
            c = req.num_computed
            if c > 0:       # the cached prefix (or earlier chunks) is read back from the cache
                seg_specs.append((offset, n, c, len(ctx_slots)))
                ctx_slots.extend(self._slot(req, p) for p in range(c + n))
            else:
                seg_specs.append((offset, n, 0, -1))
            offset += n
        packed = torch.tensor(ids + pos + slots + lens + tables + ctx_slots, dtype=torch.long)
        packed = packed.to(self.device, non_blocking=True)
        at = 0

        def take(k: int) -> torch.Tensor:
            nonlocal at
            at += k
            return packed[at - k:at]

        ids_t, pos_t, slots_t, lens_t = take(total), take(total), take(total), take(r)
        tables_t = take(r * width).view(r, width) if r else None
        ctx_t = take(len(ctx_slots))
        segments = []
        for off, n, c, s in seg_specs:
            segments.append(Segment(off, n, c, ctx_t[s:s + c + n] if c > 0 else None))
        batch = AttentionBatch(slots_t, r, tables_t, lens_t if r else None, segments, block_size=self.block_size)
        return self.model.forward(ids_t, pos_t, batch, self.kv), last_rows, sampled
