"""Continuous batching: at every step, decide which requests run and how many of their tokens.

    batch = scheduler.schedule()      # [(request, n_new_tokens), ...] within the step's token budget

One budget (`max_batched_tokens`) is shared by prefill and decode. Running requests go first, in
arrival order: a decoding request costs 1 token, a request still prefilling gets the next chunk of its
prompt (chunked prefill, so one long prompt never stalls everyone's decoding). Waiting requests are
then admitted while budget, blocks and `max_num_seqs` allow; their leading blocks come from the prefix
cache when it holds them. When a running request needs a block and none is left, the most recently
admitted request is preempted: its blocks are released (kept in the prefix cache) and it goes back to
the front of the queue, to be recomputed later, mostly from cache hits.
"""

from __future__ import annotations

from collections import deque

from llmlab.serve.block_tables import BlockTables
from llmlab.serve.request import Request, Status


class Scheduler:
    def __init__(self, tables: BlockTables, max_num_seqs: int, max_batched_tokens: int):
        self.tables = tables
        self.max_num_seqs, self.max_batched_tokens = max_num_seqs, max_batched_tokens
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.preemptions = 0

    def add(self, req: Request) -> None:
        self.waiting.append(req)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self) -> list[tuple[Request, int]]:
        budget = self.max_batched_tokens
        scheduled: list[tuple[Request, int]] = []
        preempted = False
        i = 0
        bs = self.tables.block_size
        while i < len(self.running) and budget > 0:
            req = self.running[i]
            n = min(len(req.token_ids) - req.num_computed, budget)
            if req.num_computed + n <= len(req.block_ids) * bs:     # fits its blocks: the common decode case
                scheduled.append((req, n))
                budget -= n
                i += 1
                continue
            while not self.tables.allocate(req, n):
                victim = self.running.pop()                # the most recently admitted
                self._preempt(victim)
                preempted = True
                if victim is req:
                    break
            else:
                scheduled.append((req, n))
                budget -= n
                i += 1
                continue
            break                                          # req preempted itself: nothing behind it runs
        # admitting while others were just preempted would only thrash
        while not preempted and self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            req = self.waiting[0]
            hits = self.tables.cached_prefix(req)
            computed = len(hits) * self.tables.block_size
            n = min(req.num_tokens - computed, budget)
            if not self.tables.allocate(req, n, hits):
                break                                      # wait for blocks to be freed
            self.tables.count_hits(req, hits)
            self.waiting.popleft()
            req.status = Status.RUNNING
            self.running.append(req)
            scheduled.append((req, n))
            budget -= n
        return scheduled

    def _preempt(self, req: Request) -> None:
        self.tables.free(req)
        req.status = Status.WAITING
        req.num_preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(req)

    def finish(self, req: Request) -> None:
        """Take a finished or aborted request out of the queues and give back its blocks."""
        if req.status is Status.RUNNING:
            self.running.remove(req)
        elif req.status is Status.WAITING:
            self.waiting.remove(req)
        if req.block_ids:
            self.tables.free(req)
        req.status = Status.FINISHED
