"""Scheduler, block tables and prefix cache at the level of their own decisions (no model): the behaviours
that mutation testing (`make mutation`) found no test for. Each step is simulated as the engine does it: the
scheduled tokens become computed, full blocks are committed, and a request that has computed all its tokens
gets one new token."""

from llmlab.generation import SamplingParams
from llmlab.serve.block_allocator import BlockAllocator
from llmlab.serve.block_tables import BlockTables
from llmlab.serve.request import Request, Status
from llmlab.serve.scheduler import Scheduler

BS = 2


def request(name: str, prompt: list[int]) -> Request:
    return Request(name, prompt, SamplingParams(temperature=0.0, max_new_tokens=8))


def make(usable_blocks: int, max_num_seqs: int = 4, budget: int = 8) -> tuple[BlockTables, Scheduler]:
    tables = BlockTables(BlockAllocator(usable_blocks + 1), BS)     # + the null block
    return tables, Scheduler(tables, max_num_seqs, budget)


def step(sched: Scheduler) -> list[tuple[Request, int]]:
    batch = sched.schedule()
    for req, n in batch:
        req.num_computed += n
        sched.tables.commit(req)
        if req.num_computed == req.num_tokens:
            req.token_ids.append(99)
    sched.tables.alloc.check()
    return batch


def test_the_newest_request_is_preempted_and_goes_back_to_the_front():
    tables, sched = make(usable_blocks=4, budget=6)
    a, b, c = request("a", [1, 2, 3, 4]), request("b", [5, 6]), request("c", [7, 8, 9])
    for r in (a, b, c):
        sched.add(r)
    assert [(r.request_id, n) for r, n in step(sched)] == [("a", 4), ("b", 2)]   # no budget left for c
    # a takes the last free block for its 5th token; b needs one too: b, the newest, is preempted
    assert [(r.request_id, n) for r, n in step(sched)] == [("a", 1)]
    assert b.status is Status.WAITING and b.num_preemptions == 1 and b.block_ids == []
    assert a.status is Status.RUNNING and sched.running == [a]
    assert list(sched.waiting) == [b, c]            # ahead of the request that was already waiting


def test_no_more_than_max_num_seqs_run():
    tables, sched = make(usable_blocks=16, max_num_seqs=2)
    for i in range(4):
        sched.add(request(str(i), [10 * i + 1, 10 * i + 2]))
    step(sched)
    assert len(sched.running) == 2 and len(sched.waiting) == 2


def test_a_long_prompt_is_prefilled_in_chunks_of_the_budget():
    tables, sched = make(usable_blocks=16, budget=4)
    req = request("long", list(range(1, 11)))
    sched.add(req)
    assert [n for _ in range(3) for _, n in step(sched)] == [4, 4, 2]


def test_every_full_block_is_named_in_the_prefix_cache():
    tables, sched = make(usable_blocks=8)
    req = request("a", [1, 2, 3, 4, 5])
    sched.add(req)
    step(sched)
    assert req.num_computed == 5
    for i in range(2):                              # [1, 2] and [3, 4] are full; [5] is not
        assert tables.alloc.cached(req.block_hashes[i]) == req.block_ids[i]


def test_a_block_is_found_only_after_the_same_prefix():
    tables, sched = make(usable_blocks=8)
    sched.add(request("a", [1, 2, 3, 4, 5]))
    step(sched)
    # [3, 4] is a's second block; as the first block of another prompt its K/V (positions 0-1) would be wrong
    assert tables.cached_prefix(request("b", [3, 4, 6])) == []
    assert len(tables.cached_prefix(request("c", [1, 2, 3, 4, 6]))) == 2


def test_a_finished_request_gives_up_its_tail_before_its_prefix():
    tables, sched = make(usable_blocks=4)
    a = request("a", [1, 2, 3, 4, 5, 6])
    sched.add(a)
    step(sched)
    first, second, tail = a.block_ids
    sched.finish(a)                                  # all three blocks are cached, one block is free
    alloc = tables.alloc
    alloc.allocate()
    assert alloc.allocate() == tail                  # the first eviction takes the tail
    assert tables.cached_prefix(request("b", [1, 2, 3, 4, 5, 6])) == [first, second]


def test_reviving_idle_cached_blocks_costs_free_blocks():
    tables, sched = make(usable_blocks=3)
    a = request("a", [1, 2, 3, 4, 5])
    sched.add(a)
    step(sched)
    sched.finish(a)                                  # 2 named blocks cached, 1 free
    other = request("other", [9])
    assert tables.allocate(other, 1)                 # takes the free one
    again = request("again", [1, 2, 3, 4, 5])
    hits = tables.cached_prefix(again)
    assert len(hits) == 2
    # the 2 hits sit among the 2 evictable blocks: with one more block needed, 3 > 2 available
    assert not tables.allocate(again, 1, hits)
    assert again.block_ids == [] and tables.alloc.num_free == 2
    tables.alloc.check()


def test_a_fully_cached_prompt_still_computes_its_last_token():
    tables, sched = make(usable_blocks=8)
    a = request("a", [1, 2, 3, 4])
    sched.add(a)
    step(sched)
    # both blocks are cached, but the last token's logits are needed
    b = request("b", [1, 2, 3, 4])
    assert tables.cached_prefix(b) == a.block_ids[:1]


def test_nothing_is_admitted_in_a_step_that_preempted():
    # without a prefix cache the preempted request would fit again at once (its 4-token budget needs the 2
    # blocks it just gave back): admitting it would recompute it every step and never finish
    tables = BlockTables(BlockAllocator(3, enable_prefix_caching=False), BS)
    sched = Scheduler(tables, max_num_seqs=4, max_batched_tokens=4)
    a = request("a", [1, 2, 3, 4])
    sched.add(a)
    step(sched)                                      # 4 tokens in both blocks, then a 5th token needs a third
    assert step(sched) == [] and a.status is Status.WAITING and a.num_preemptions == 1
    assert [n for _, n in step(sched)] == [4]        # admitted again in the next step
