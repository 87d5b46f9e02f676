"""Exercise `allocator`: the KV-cache block allocator — a free list, reference counts, and the prefix cache
with least-recently-used eviction.

Check it with `llmlab learn check serve allocator` (thousands of random requests — allocate, share a cached
block, register, release — run on yours and on llmlab's BlockAllocator side by side: the same blocks handed
out, the same cache hits and evictions, NoFreeBlocks at the same moment, a double release refused, and the
invariants of `check()` after every operation: no block leaked, none in two states).
The constructor, the counts and `check()` are given: write allocate, take, release, cached, register and
reset_prefix_cache. Block NULL_BLOCK (0) is never handed out: padding in the attention kernels points at it.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from llmlab.errors import LabError
from llmlab.serve.block_allocator import NoFreeBlocks  # noqa: F401 - for your code: raise NoFreeBlocks
from llmlab.serve.paged_attention import NULL_BLOCK


class BlockAllocator:
    """Every usable block is in exactly one state:
        free       on self.free (a deque, taken from the left, returned on the right), refs 0, no hash
        in use     self.refs[b] > 0 (how many requests' block tables hold it)
        cached     refs 0 but named by a hash (self.hash_of[b], self.by_hash[h] = b), kept in self.evictable
                   (an OrderedDict used as an LRU list: least recently released first) until evicted
    Example (num_blocks 4: blocks 1, 2, 3): a = allocate() -> 1; register(1, h); release(1) -> 1 is cached;
    cached(h) -> 1; take(1) -> in use again (refs 1); release(1); allocate(), allocate() -> 2, 3;
    allocate() -> the free list is empty: evict 1 (forget h, evictions += 1) and hand it out.
    """

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
        """A block for one user (refs 1): the first free one (popleft); if none is free, evict the least
        recently released cached block (forget its hash in both maps, count the eviction); if there is
        none of those either, raise NoFreeBlocks (the scheduler then preempts a request)."""
        raise NotImplementedError("allocate")

    def take(self, block: int) -> None:
        """One more user of a block that is cached (refs 0: it leaves self.evictable) or already in use."""
        raise NotImplementedError("take")

    def release(self, block: int) -> None:
        """One user fewer. Releasing a block nobody holds (refs 0) is a bug in the caller: raise RuntimeError,
        never let the count go negative. At 0 users the block is NOT free if it has a hash: it becomes cached
        (the newest end of self.evictable), so the next request with this prefix can take it back."""
        raise NotImplementedError("release")

    def cached(self, h: bytes) -> int | None:
        """The block named h, or None (always None with prefix caching off)."""
        raise NotImplementedError("cached")

    def register(self, block: int, h: bytes) -> None:
        """Name a full, computed block by its prefix hash. Nothing changes when caching is off, when h names
        another block already (that one stays the cached copy; this one stays anonymous and goes back to
        the free list when released), or when this block already has a name."""
        raise NotImplementedError("register")

    def reset_prefix_cache(self) -> None:
        """Forget every cached block that no request uses: each goes back to the free list (LRU order)."""
        raise NotImplementedError("reset_prefix_cache")

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
