"""KV-cache blocks: a free list, reference counts, and the automatic prefix cache with LRU eviction.

    alloc = BlockAllocator(num_blocks=256)
    b = alloc.allocate(); alloc.register(b, prefix_hash(parent, tokens)); alloc.release(b)
    alloc.cached(h)   # -> the block holding exactly those tokens after exactly that prefix, or None

A block is in exactly one state: free (on the free list), in use (reference count > 0), or cached
(count 0 but its contents are known by hash, so a later request with the same prefix can take it back).
Cached blocks are evicted least recently released first when the free list runs dry.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict, deque
from collections.abc import Sequence

from llmlab.errors import LabError
from llmlab.serve.paged_attention import NULL_BLOCK


def prefix_hash(parent: bytes, tokens: Sequence[int]) -> bytes:
    """The hash chain that names a full block by everything before it and in it:

        h_0 = H(b"" || tokens_0),   h_i = H(h_{i-1} || tokens_i)

    so two blocks share a hash only if their whole prefixes agree. H is BLAKE2b with a 16-byte digest:
    a collision would silently serve wrong K/V, so a cryptographic hash rather than Python's `hash`.
    """
    return hashlib.blake2b(parent + array("q", tokens).tobytes(), digest_size=16).digest()


class NoFreeBlocks(Exception):
    """Raised by `allocate` when every block is in use; the scheduler preempts and retries."""


class BlockAllocator:
    def __init__(self, num_blocks: int, enable_prefix_caching: bool = True):
        if num_blocks < 2:
            raise LabError(f"the KV cache needs at least 2 blocks, got {num_blocks}",
                           hint="raise num_blocks or kv_cache_gb")
        self.num_blocks = num_blocks
        self.caching = enable_prefix_caching
        self.free: deque[int] = deque(b for b in range(num_blocks) if b != NULL_BLOCK)
        self.refs = [0] * num_blocks
        self.hash_of: list[bytes | None] = [None] * num_blocks
        self.by_hash: dict[bytes, int] = {}
        # cached blocks, least recently released first
        self.evictable: OrderedDict[int, None] = OrderedDict()
        self.evictions = 0

    @property
    def usable(self) -> int:
        return self.num_blocks - 1            # the null block is never handed out

    @property
    def num_free(self) -> int:
        """Blocks a request could get now: truly free plus cached-but-unused (evictable)."""
        return len(self.free) + len(self.evictable)

    @property
    def num_in_use(self) -> int:
        return self.usable - self.num_free

    def allocate(self) -> int:
        if self.free:
            block = self.free.popleft()
        elif self.evictable:
            block, _ = self.evictable.popitem(last=False)        # the least recently used cached block
            del self.by_hash[self.hash_of[block]]
            self.hash_of[block] = None
            self.evictions += 1
        else:
            raise NoFreeBlocks
        self.refs[block] = 1
        return block

    def take(self, block: int) -> None:
        """One more user of a cached or shared block."""
        if self.refs[block] == 0:
            del self.evictable[block]
        self.refs[block] += 1

    def release(self, block: int) -> None:
        if self.refs[block] <= 0:
            raise RuntimeError(f"block {block} released more often than taken")
        self.refs[block] -= 1
        if self.refs[block] == 0:
            if self.hash_of[block] is not None:
                self.evictable[block] = None                     # newest at the end
            else:
                self.free.append(block)

    def cached(self, h: bytes) -> int | None:
        return self.by_hash.get(h) if self.caching else None

    def register(self, block: int, h: bytes) -> None:
        """Name a full, computed block by its prefix hash. If an identical block is already cached, keep
        that one: this copy stays anonymous and returns to the free list when released."""
        if not self.caching or h in self.by_hash or self.hash_of[block] is not None:
            return
        self.by_hash[h] = block
        self.hash_of[block] = h

    def reset_prefix_cache(self) -> None:
        """Forget every cached block that no request uses."""
        while self.evictable:
            block, _ = self.evictable.popitem(last=False)
            del self.by_hash[self.hash_of[block]]
            self.hash_of[block] = None
            self.free.append(block)

    def check(self) -> None:
        """Invariants, for tests: every usable block is in exactly one state, and the hash map agrees."""
        free, evictable = set(self.free), set(self.evictable)
        assert len(free) == len(self.free), "a block is on the free list twice"
        assert NULL_BLOCK not in free | evictable and self.refs[NULL_BLOCK] == 0, ("the null block was "
                                                                                   "handed "
                                                                                   "out")
        assert not free & evictable, "a block is both free and cached"
        for b in range(self.num_blocks):
            if b == NULL_BLOCK:
                continue
            states = (b in free) + (b in evictable) + (self.refs[b] > 0)
            assert states == 1, f"block {b} is in {states} states (refs {self.refs[b]})"
            if b in free:
                assert self.hash_of[b] is None, f"free block {b} still has a hash"
            if b in evictable:
                assert self.hash_of[b] is not None and self.by_hash[self.hash_of[b]] == b
        for h, b in self.by_hash.items():
            assert self.hash_of[b] == h, f"hash map points at block {b}, which holds another hash"
