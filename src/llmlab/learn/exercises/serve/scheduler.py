"""Exercise `scheduler`: one step of continuous batching — which requests run now, and how many tokens each —
under one token budget shared by prefill and decode.

Check it with `llmlab learn check serve scheduler` (random request streams driven step by step on yours and on
llmlab's Scheduler, each over its own allocator: the same batch every step, the budget and max_num_seqs never
exceeded, the same preemptions, every block back at the end). The queues, `add`, `_preempt` and `finish` are
given: write `schedule`. `self.tables` is llmlab's BlockTables:
    tables.block_size;  tables.allocate(req, n, hits=()) -> bool   (blocks for n more tokens, all or nothing)
    tables.cached_prefix(req) -> the cached blocks of its leading full blocks;  tables.count_hits(req, hits)
and a Request has token_ids (prompt + generated), num_tokens, num_computed (tokens whose K/V are cached),
block_ids, status (Status.WAITING / RUNNING).
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
        """[(request, n_new_tokens), ...] for this step, sum of n <= max_batched_tokens.

        1. Running requests, in order (oldest admitted first), while budget is left:
           n = min(tokens not yet computed, budget)  (1 for a decoding request; a chunk of a long prompt).
           If its blocks hold num_computed + n tokens, schedule it. Otherwise tables.allocate(req, n); while
           that fails, preempt the LAST running request (self.running.pop(), then self._preempt(victim)) and
           retry — if the victim is req itself, stop the whole loop: nothing behind it runs this step.
        2. Then, unless something was preempted this step (re-admitting now would only thrash), admit
           waiting requests from the front while budget > 0 and len(running) < max_num_seqs:
           hits = tables.cached_prefix(req); n = min(req.num_tokens - len(hits) * block_size, budget);
           if not tables.allocate(req, n, hits): stop (wait for blocks). Else tables.count_hits(req, hits),
           move it from waiting to running with status RUNNING, and schedule (req, n).
        Example: budget 8, one request decoding, one waiting with a 20-token prompt and no cache hit ->
        [(decoding, 1), (new, 7)]: the prompt's first 7 tokens now, the rest in later steps.
        """
        raise NotImplementedError("schedule")

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
