"""Each request's block table: which KV blocks hold its tokens, growing as it runs, shared through the prefix
cache.

    tables = BlockTables(BlockAllocator(256), block_size=16)
    hits = tables.cached_prefix(req)          # leading full blocks already in the cache (no refs taken)
    ok = tables.allocate(req, n_new, hits)    # all-or-nothing: take the hits, add blocks for n_new tokens
    tables.commit(req)                        # name its newly completed blocks in the prefix cache
    tables.free(req)                          # give everything back (named blocks stay cached)
"""

from __future__ import annotations

from llmlab.serve.block_allocator import BlockAllocator, prefix_hash
from llmlab.serve.request import Request


class BlockTables:
    def __init__(self, allocator: BlockAllocator, block_size: int):
        self.alloc, self.block_size = allocator, block_size
        self.query_tokens = 0      # prompt tokens looked up in the prefix cache
        self.hit_tokens = 0        # of those, found

    def blocks_needed(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    def _hashes(self, req: Request, n_blocks: int) -> list[bytes]:
        """Extend the request's hash chain to cover its first n_blocks full blocks."""
        bs, hashes = self.block_size, req.block_hashes
        while len(hashes) < n_blocks:
            i = len(hashes)
            hashes.append(prefix_hash(hashes[-1] if hashes else b"", req.token_ids[i * bs:(i + 1) * bs]))
        return hashes

    def cached_prefix(self, req: Request) -> list[int]:
        """The cached blocks that match the request's leading full blocks. The last token is always
        left to compute, since its logits choose the next token."""
        if not self.alloc.caching or req.block_ids:
            return []
        hits = []
        for h in self._hashes(req, (req.num_tokens - 1) // self.block_size):
            block = self.alloc.cached(h)
            if block is None:
                break
            hits.append(block)
        return hits

    def allocate(self, req: Request, num_new: int, hits: list[int] = ()) -> bool:
        """Give `req` blocks for `num_new` more tokens (after taking `hits`), or change nothing and say
        False."""
        alloc = self.alloc
        computed = req.num_computed + len(hits) * self.block_size
        fresh = self.blocks_needed(computed + num_new) - len(req.block_ids) - len(hits)
        # a hit with no other user sits among the evictable blocks, so taking it costs a free block too
        idle_hits = sum(1 for b in hits if alloc.refs[b] == 0)
        if fresh + idle_hits > alloc.num_free:
            return False
        for b in hits:
            alloc.take(b)
        req.block_ids.extend(hits)
        req.num_computed = computed
        req.num_committed = max(req.num_committed, len(hits))
        for _ in range(max(fresh, 0)):
            req.block_ids.append(alloc.allocate())
        return True

    def count_hits(self, req: Request, hits: list[int]) -> None:
        """Prefix-cache accounting, once per request (a preempted request re-admitted is not a new query)."""
        if req.num_cached_tokens < 0:
            req.num_cached_tokens = min(len(hits) * self.block_size, req.num_prompt)
            self.query_tokens += req.num_prompt
            self.hit_tokens += req.num_cached_tokens

    def commit(self, req: Request) -> None:
        """Register every block the request has completely computed under its prefix hash."""
        full = req.num_computed // self.block_size
        if full <= req.num_committed or not self.alloc.caching:
            req.num_committed = max(req.num_committed, full)
            return
        hashes = self._hashes(req, full)
        for i in range(req.num_committed, full):
            self.alloc.register(req.block_ids[i], hashes[i])
        req.num_committed = full

    def free(self, req: Request) -> None:
        """Release in reverse, so the request's tail blocks are evicted before the prefix others share."""
        for b in reversed(req.block_ids):
            self.alloc.release(b)
        req.block_ids = []
        req.num_computed = 0
        req.num_committed = 0

    @property
    def hit_rate(self) -> float:
        return self.hit_tokens / self.query_tokens if self.query_tokens else 0.0
