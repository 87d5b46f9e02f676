"""From a scheduled step to logits: flatten the requests' new tokens, run the model, pick the rows to sample.

    logits, sampled = runner.execute([(req, n_new), ...])   # logits (S, V) for the S requests that sample
                                                            # (1 + k rows for one verifying k drafts)

Every index the model needs (token ids, positions, cache slots, block tables, context lengths) is packed
into one int64 tensor and copied to the device in one transfer. On a GPU, a step whose tokens are few
(decoding, short cached suffixes) runs as a replayed CUDA graph: one launch instead of hundreds, which is
what decode at small batch is bound by. Graphs are captured lazily, one per (requests, tokens per request,
table width) bucket. There, attention for the rows is a Triton kernel reading the blocks in place, when
it passes its self-check (`triton_attention.py`); otherwise the torch path gathers the blocks.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field

import torch

from llmlab.serve.model import PagedCausalLM
from llmlab.serve.paged_attention import NULL_BLOCK, AttentionBatch, PagedKVCache, Segment
from llmlab.serve.request import Request

ROW_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)
WIDTH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
GRAPH_MAX_KEYS = 64 * 1024     # gathered positions above which a graph step would move too much memory


def _bucket(n: int, buckets) -> int:
    for b in buckets:
        if b >= n:
            return b
    return n


def _pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _pack(*parts: list[int]) -> torch.Tensor:
    """Python int lists -> one int64 CPU tensor (through array('q'): about twice as fast as torch.tensor)."""
    buf = array("q")
    for part in parts:
        buf.extend(part)
    return torch.frombuffer(buf, dtype=torch.long) if len(buf) else torch.zeros(0, dtype=torch.long)


def _views(packed: torch.Tensor, rows: int, tables: int, width: int):
    ids, pos, slots, lens = (packed[i * rows:(i + 1) * rows] for i in range(4))
    return ids, pos, slots, lens, packed[4 * rows:4 * rows + tables * width].view(tables, width)


@dataclass
class StepInputs:
    """One step's model inputs, one named int list each, in the order `pack` lays them out."""

    token_ids: list[int]          # (T,) the new tokens, flat
    positions: list[int]          # (T,) their positions in their requests
    slots: list[int]              # (T,) the cache slot each token's K and V are written to
    context_lens: list[int]       # (R,) positions each attention row sees, its own included
    block_tables: list[int]       # (S * width,) the rows' block tables end to end, padded with the null block
    width: int                    # blocks per table
    last_rows: list[int]          # the row of each sampling request's last token (and of its drafts)
    sampled: list[Request]
    context_slots: list[int] = field(default_factory=list)   # eager: each continued chunk's whole context
    # eager: (first row, new tokens, positions already cached, offset in context_slots), one per chunk
    segments: list[tuple[int, int, int, int]] = field(default_factory=list)

    def pack(self) -> torch.Tensor:
        """Every list in one int64 CPU tensor, so that the step needs one host-to-device copy."""
        return _pack(self.token_ids, self.positions, self.slots, self.context_lens, self.block_tables,
                     self.context_slots)

    def unpack(self, packed: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """`packed` (on any device) back into one view per list, in the order above."""
        return packed.split([len(self.token_ids), len(self.positions), len(self.slots),
                             len(self.context_lens), len(self.block_tables), len(self.context_slots)])


class _Graph:
    """One captured forward over `tables` requests x `qpt` tokens (queries per table), with static inputs."""

    def __init__(self, runner: ModelRunner, tables: int, qpt: int, width: int):
        rows = tables * qpt
        self.packed = torch.zeros(rows * 4 + tables * width, dtype=torch.long, device=runner.device)
        ids, pos, slots, lens, table = _views(self.packed, rows, tables, width)
        lens.fill_(1)
        self.batch = AttentionBatch(slots, rows, table, lens, qpt, block_size=runner.block_size,
                                    kernel=runner._kernel_for(qpt))
        fwd = lambda: runner.model.forward(ids, pos, self.batch, runner.kv)   # noqa: E731
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):            # warm up (allocations, kernel selection, Triton compile)
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


class ModelRunner:
    def __init__(self, model: PagedCausalLM, kv: PagedKVCache, max_blocks_per_seq: int,
                 cuda_graphs: bool = True, graph_max_rows: int = 128, rows_only: bool = False,
                 triton_attention: bool = True, triton_max_chunk: int = 1):
        self.model, self.kv = model, kv
        self.block_size = kv.block_size
        self.device = model.device
        self.max_blocks = max_blocks_per_seq
        self.use_graphs = cuda_graphs and self.device.type == "cuda"
        # rows_only runs the graph path's layout without capturing (tests check it on a CPU)
        self.rows_only = rows_only
        self.graph_max_rows = graph_max_rows
        self.triton_max_chunk = triton_max_chunk
        self.graphs: dict[tuple[int, int, int], _Graph] = {}
        self.graph_pool = torch.cuda.graph_pool_handle() if self.use_graphs else None
        self.capture_seconds = 0.0
        self.graph_steps = self.eager_steps = 0
        # null padding of each length a block table may need (up to the widest bucket), shared by every step
        self.null_pads = [[NULL_BLOCK] * k for k in range(min(self.max_blocks, WIDTH_BUCKETS[-1]) + 1)]
        self.kernel, self.kernel_note = None, "torch gather (CPU)"
        if triton_attention and self.device.type == "cuda":
            from llmlab.serve.triton_attention import load_kernel

            s = model.spec
            self.kernel = load_kernel(self.device, s.n_head, s.n_kv_head, s.head_dim, self.block_size,
                                      model.dtype)
            self.kernel_note = "triton" if self.kernel else f"torch gather ({load_kernel.why})"

    def _slot(self, req: Request, p: int) -> int:
        return req.block_ids[p // self.block_size] * self.block_size + p % self.block_size

    def _slots(self, req: Request, start: int, end: int) -> list[int]:
        """Cache slots of positions [start, end), one run of consecutive slots per block."""
        bs, out, p = self.block_size, [], start
        while p < end:
            offset = p % bs
            take = min(bs - offset, end - p)
            base = req.block_ids[p // bs] * bs + offset
            out.extend(range(base, base + take))
            p += take
        return out

    def _tables(self, reqs: list[Request], width: int) -> list[int]:
        """The requests' block tables end to end, each padded to `width` with the null block:
        (len(reqs) * width,).

        Built from `req.block_ids` at every step, never kept between steps: a preempted request comes back on
        other blocks (often as many as before), and a table kept from before would read K/V that other
        requests have since overwritten. The padding lists are made once, so a table costs two list
        extends."""
        out: list[int] = []
        pads = self.null_pads
        for req in reqs:
            blocks = req.block_ids
            k = width - len(blocks)
            out += blocks
            out += pads[k] if k < len(pads) else [NULL_BLOCK] * k
        if len(out) != len(reqs) * width:
            raise RuntimeError(f"a request holds more blocks than this step's table width ({width})")
        return out

    def _graph_shape(self, scheduled) -> tuple[int, int, int] | None:
        """(tables, tokens per table, width) buckets when this step can run in the graph layout, else None."""
        if not (self.use_graphs or self.rows_only):
            return None
        tables = _bucket(len(scheduled), ROW_BUCKETS)
        qpt = _pow2(max(n for _, n in scheduled))
        if tables * qpt > self.graph_max_rows:
            return None
        blocks = max(-(-(r.num_computed + n) // self.block_size) for r, n in scheduled)
        width = min(_bucket(blocks, WIDTH_BUCKETS), self.max_blocks)
        if self._kernel_for(qpt) is None and tables * width * self.block_size > GRAPH_MAX_KEYS:
            return None
        return tables, qpt, width

    def _kernel_for(self, qpt: int):
        """The Triton kernel serves decode rows; a request's chunk of several tokens is by default served by
        gathering its blocks once and attending with all its queries together (the torch path). For short
        chunks (a cached prefix's suffix) the kernel saves the gather's several small kernels per layer, which
        is what such a step is bound by at GPT-2 124M's size: `triton_max_chunk` sets where it takes over."""
        return self.kernel if qpt <= self.triton_max_chunk else None

    @torch.inference_mode()
    def execute(self, scheduled: list[tuple[Request, int]]) -> tuple[torch.Tensor | None, list[Request]]:
        shape = self._graph_shape(scheduled)
        if shape is not None:
            inputs = self.prepare_rows(scheduled, *shape)
            hidden = self._graph_step(inputs, *shape)
            self.graph_steps += 1
        else:
            inputs = self.prepare_eager(scheduled)
            hidden = self._eager_step(inputs)
            self.eager_steps += 1
        last_rows = inputs.last_rows
        if not last_rows:
            return None, []
        if last_rows == list(range(len(last_rows))):
            picked = hidden[:len(last_rows)]            # decode: every row samples, no gather needed
        else:
            picked = hidden[torch.tensor(last_rows, device=self.device)]
        return self.model.logits(picked), inputs.sampled

    # ---- the graph layout: every request as `queries_per_table` rows --------------------------

    def prepare_rows(self, scheduled, tables: int, queries_per_table: int, width: int) -> StepInputs:
        """Request s owns rows [s*qpt, (s+1)*qpt); each row has its own context length, so causal masking
        within a chunk falls out of the lengths. Padding rows see one position and write to the null block."""
        qpt = queries_per_table
        rows = tables * qpt
        null_slot = NULL_BLOCK * self.block_size
        token_ids, positions, slots, context_lens = [0] * rows, [0] * rows, [null_slot] * rows, [1] * rows
        last_rows, sampled = [], []
        for s, (req, n) in enumerate(scheduled):
            cached, first = req.num_computed, s * qpt
            for j in range(n):
                p = cached + j
                token_ids[first + j], positions[first + j], slots[first + j], context_lens[first + j] = (
                    req.token_ids[p], p, self._slot(req, p), p + 1)
            if cached + n == req.num_tokens:
                last_rows.extend(range(first + n - 1 - len(req.drafts), first + n))
                sampled.append(req)
        block_tables = self._tables([req for req, _ in scheduled], width)
        block_tables += [NULL_BLOCK] * ((tables - len(scheduled)) * width)
        return StepInputs(token_ids, positions, slots, context_lens, block_tables, width, last_rows, sampled)

    def _graph_step(self, inputs: StepInputs, tables: int, qpt: int, width: int) -> torch.Tensor:
        packed = inputs.pack()
        if not self.use_graphs:         # rows_only: the same layout, run eagerly
            ids, pos, slots, lens, table, _ = inputs.unpack(packed.to(self.device))
            batch = AttentionBatch(slots, tables * qpt, table.view(tables, width), lens, qpt,
                                   block_size=self.block_size, kernel=self._kernel_for(qpt))
            return self.model.forward(ids, pos, batch, self.kv)
        key = (tables, qpt, width)
        graph = self.graphs.get(key)
        if graph is None:
            start = time.perf_counter()
            graph = self.graphs[key] = _Graph(self, tables, qpt, width)
            self.capture_seconds += time.perf_counter() - start
        return graph.run(packed)

    # ---- the eager layout: decode rows, then prompt chunks ------------------------------------

    def prepare_eager(self, scheduled) -> StepInputs:
        """Decode tokens as rows (one batched attention); prompts from position 0 as one padded causal batch;
        chunks that continue a cached prefix one by one, each reading its context back from the cache."""
        decode = [(r, n) for r, n in scheduled if n == 1]
        fresh = [(r, n) for r, n in scheduled if n > 1 and r.num_computed == 0]
        rest = [(r, n) for r, n in scheduled if n > 1 and r.num_computed > 0]
        blocks = max((-(-(r.num_computed + 1) // self.block_size) for r, _ in decode), default=1)
        width = min(_bucket(blocks, WIDTH_BUCKETS), self.max_blocks)
        token_ids, positions, slots, last_rows, sampled = [], [], [], [], []
        for req, n in decode + fresh + rest:
            cached = req.num_computed
            token_ids.extend(req.token_ids[cached:cached + n])
            positions.extend(range(cached, cached + n))
            slots.extend(self._slots(req, cached, cached + n))
            if cached + n == req.num_tokens:
                last_rows.extend(range(len(token_ids) - 1 - len(req.drafts), len(token_ids)))
                sampled.append(req)
        context_lens = [req.num_computed + 1 for req, _ in decode]
        block_tables = self._tables([req for req, _ in decode], width)
        context_slots, segments = [], []
        first = len(decode)
        for req, n in fresh + rest:
            cached = req.num_computed
            segments.append((first, n, cached, len(context_slots)))
            if cached > 0:       # the cached prefix (or earlier chunks) is read back from the cache
                context_slots.extend(self._slots(req, 0, cached + n))
            first += n
        return StepInputs(token_ids, positions, slots, context_lens, block_tables, width, last_rows, sampled,
                          context_slots, segments)

    def _eager_step(self, inputs: StepInputs) -> torch.Tensor:
        packed = inputs.pack().to(self.device, non_blocking=True)
        ids, pos, slots, lens, tables, context = inputs.unpack(packed)
        num_decode = len(inputs.context_lens)
        segments = [Segment(first, n, cached, context[at:at + cached + n] if cached > 0 else None)
                    for first, n, cached, at in inputs.segments]
        tables = tables.view(num_decode, inputs.width) if num_decode else None
        batch = AttentionBatch(slots, num_decode, tables, lens if num_decode else None, 1, segments,
                               self.block_size, kernel=self.kernel)
        return self.model.forward(ids, pos, batch, self.kv)
