"""Graders of project 9: the block allocator and the scheduler run side by side with llmlab's on seeded random
request streams (same results every operation, invariants after each), the prefix hash against llmlab's chain,
and the SSE encoder against the API's own encoder and the OpenAI client's decoder.

Prompts are drawn from a few token ids with shared beginnings, so prefixes collide and the prefix cache,
eviction and preemption all happen within a few hundred operations.
"""

from __future__ import annotations

import json
import random

from llmlab.learn.grading import Mismatch, check_equal


# ---- allocator ----------------------------------------------------------------------------------------
def _state(alloc) -> dict:
    return {"free list": list(alloc.free), "refs": list(alloc.refs),
            "cached (LRU order)": list(alloc.evictable),
            "by_hash": dict(alloc.by_hash), "evictions": alloc.evictions, "num_free": alloc.num_free}


def _invariants(alloc, what: str) -> None:
    from llmlab.serve.block_allocator import BlockAllocator

    try:
        BlockAllocator.check(alloc)
    except AssertionError as exc:
        raise Mismatch(f"BlockAllocator ({what}): {exc}") from None


def _call(what: str, fn, *args):
    """(result, None) or (None, exception type name): NoFreeBlocks and RuntimeError are answers, not
    crashes."""
    from llmlab.serve.block_allocator import NoFreeBlocks

    try:
        return fn(*args), None
    except NoFreeBlocks:
        return None, "NoFreeBlocks"
    except NotImplementedError:      # a RuntimeError too, but a stub's, not an answer
        raise
    except RuntimeError:
        return None, "RuntimeError"


def grade_allocator(ns) -> None:
    from llmlab.serve.block_allocator import BlockAllocator

    for seed, num_blocks, caching in ((0, 6, True), (1, 12, True), (2, 5, False), (3, 24, True)):
        rng = random.Random(seed)
        mine, ref = ns.BlockAllocator(num_blocks, caching), BlockAllocator(num_blocks, caching)
        held: list[int] = []                       # one entry per reference a "request" holds
        hashes = [bytes([i]) * 4 for i in range(8)]
        history: list[str] = []
        for step in range(600):
            op = rng.choice(["allocate", "allocate", "release", "release", "register", "hit", "take",
                             "double release",
                             "cached"] + (["reset"] if step % 97 == 0 else []))
            if op == "allocate":
                call = ("allocate()",)
                got, expected = _call("allocate", mine.allocate), _call("allocate", ref.allocate)
                if expected[0] is not None:
                    held.append(expected[0])
            elif op == "release" and held:
                b = held.pop(rng.randrange(len(held)))
                call = (f"release({b})",)
                got, expected = _call("release", mine.release, b), _call("release", ref.release, b)
            elif op == "register" and held:
                b, h = rng.choice(held), rng.choice(hashes)
                call = (f"register({b}, {h!r})",)
                got, expected = _call("register", mine.register, b, h), _call("register", ref.register, b, h)
            elif op == "hit":                       # a request finds a cached block and takes it
                h = rng.choice(hashes)
                b = ref.cached(h)
                call = (f"cached({h!r})" + (f", then take({b})" if b is not None else ""),)
                got = _call("cached", mine.cached, h)
                expected = (b, None)
                if got == expected and b is not None:
                    got, expected = _call("take", mine.take, b), _call("take", ref.take, b)
                    held.append(b)
            elif op == "take" and held:             # a second request shares a block in use
                b = rng.choice(held)
                call = (f"take({b}) of a block in use",)
                got, expected = _call("take", mine.take, b), _call("take", ref.take, b)
                held.append(b)
            elif op == "double release":
                idle = [b for b in range(1, num_blocks) if ref.refs[b] == 0]
                if not idle:
                    continue
                b = rng.choice(idle)
                call = (f"release({b}) of a block nobody holds",)
                got, expected = _call("release", mine.release, b), _call("release", ref.release, b)
            elif op == "cached":
                h = rng.choice(hashes)
                call = (f"cached({h!r})",)
                got, expected = _call("cached", mine.cached, h), _call("cached", ref.cached, h)
            elif op == "reset":
                call = ("reset_prefix_cache()",)
                got, expected = _call("reset", mine.reset_prefix_cache), _call("reset",
                                                                               ref.reset_prefix_cache)
            else:
                continue
            history.append(call[0])
            what = (f"num_blocks {num_blocks}, prefix caching {'on' if caching else 'off'}, operation "
                    f"{step}: "
                    f"{call[0]}; the last ones: {', '.join(history[-6:-1]) or 'none'}")
            if got != expected:
                def say(r):
                    return f"raised {r[1]}" if r[1] else f"returned {r[0]!r}"
                hint = ""
                if expected[1] == "RuntimeError":
                    hint = (" — releasing a block nobody holds must raise RuntimeError (a double free "
                            "corrupts the cache)")
                raise Mismatch(f"BlockAllocator ({what}): llmlab's {say(expected)}, yours {say(got)}{hint}")
            _invariants(mine, what)
            a, b = _state(mine), _state(ref)
            for key in b:
                if a[key] != b[key]:
                    raise Mismatch(f"BlockAllocator ({what}): {key} differs from llmlab's:\nexpected "
                                   f"{b[key]!r}\n"
                                   f"got      {a[key]!r}")
        for b in held:
            mine.release(b)
        if mine.num_in_use:
            raise Mismatch(f"BlockAllocator (num_blocks {num_blocks}): every reference was released, but "
                           f"{mine.num_in_use} blocks are still in use — a leak")


# ---- prefix hash --------------------------------------------------------------------------------------
def grade_prefix_hash(ns) -> None:
    from llmlab.serve.block_allocator import prefix_hash

    rng = random.Random(0)
    for case in range(40):
        size = rng.choice((1, 4, 16))
        high = rng.choice((50, 300, 70_000, 2**40))
        blocks = [[rng.randrange(high) for _ in range(size)] for _ in range(rng.randint(1, 5))]
        got, expected = b"", b""
        for i, block in enumerate(blocks):
            got, expected = ns.prefix_hash(got, list(block)), prefix_hash(expected, block)
            what = f"chain #{case}, block {i} of {len(blocks)}, {size} ids below {high}: {block[:6]}"
            if not isinstance(got, bytes):
                raise Mismatch(f"prefix_hash ({what}): return bytes (the digest), got {type(got).__name__}")
            check_equal("prefix_hash: digest length", len(got), 16, what)
            if got != expected:
                raise Mismatch(f"prefix_hash ({what}): expected {expected.hex()}, got {got.hex()}")
    # the chain: the same block after different prefixes must get different names
    a = ns.prefix_hash(ns.prefix_hash(b"", [1, 2, 3, 4]), [5, 6, 7, 8])
    b = ns.prefix_hash(ns.prefix_hash(b"", [9, 2, 3, 4]), [5, 6, 7, 8])
    if a == b:
        raise Mismatch("prefix_hash: the block [5, 6, 7, 8] after [1, 2, 3, 4] and after [9, 2, 3, 4] got "
                       "the same "
                       "name — the parent's hash must be inside: another prompt's K/V would be served")


# ---- scheduler ----------------------------------------------------------------------------------------
def _next_token(req) -> int:
    """A deterministic "model": the next token depends on the request's tokens so far."""
    return (sum(req.token_ids) * 31 + len(req.token_ids)) % 5 + 1


def _drive(scheduler, tables, arrivals: list, steps: int):
    """Yield (step, batch) while feeding arrivals and applying each batch as the engine does."""
    pending = list(arrivals)
    bs = tables.block_size
    for step in range(steps):
        while pending and pending[0][0] <= step:
            scheduler.add(pending.pop(0)[1])
        batch = scheduler.schedule()
        yield step, batch
        for req, n in batch:
            req.num_computed += n
            if req.num_computed // bs > req.num_committed:
                tables.commit(req)
        for req, _ in batch:
            if req.num_computed == req.num_tokens:
                req.token_ids.append(_next_token(req))
                if len(req.output_ids) >= req.params.max_new_tokens:
                    scheduler.finish(req)
        if not pending and not scheduler.has_work():
            return


def _requests(seed: int, n: int, capacity: int) -> list:
    """n requests (arrival step, Request); each fits the cache alone (`capacity` tokens), as the engine
    insists."""
    from llmlab.generation import SamplingParams
    from llmlab.serve.request import Request

    rng = random.Random(seed)
    out, t = [], 0
    for i in range(n):
        t += rng.choice((0, 0, 1, 2, 4))
        prompt = [1, 2, 3, 4][:rng.randint(0, 4)] + [rng.randint(1, 4) for _ in range(rng.randint(1, 14))]
        new = rng.randint(1, 8)
        prompt = prompt[:max(1, capacity - new)]
        out.append((t, Request(f"r{i}", prompt, SamplingParams(temperature=0.0, max_new_tokens=new))))
    return out


def grade_scheduler(ns) -> None:
    from llmlab.serve.block_allocator import BlockAllocator
    from llmlab.serve.block_tables import BlockTables
    from llmlab.serve.scheduler import Scheduler

    configs = [(0, 24, 4, 8, 4), (1, 10, 2, 6, 3), (2, 40, 4, 16, 8), (3, 8, 2, 4, 2), (4, 16, 4, 3, 6),
               (5, 64, 2, 32, 16), (6, 12, 2, 12, 6), (11, 10, 2, 8, 4)]
    for seed, num_blocks, block_size, budget, seqs in configs:
        what = (f"seed {seed}: {num_blocks} blocks of {block_size} tokens, max_batched_tokens {budget}, "
                f"max_num_seqs {seqs}")
        ref_tables = BlockTables(BlockAllocator(num_blocks), block_size)
        my_tables = BlockTables(BlockAllocator(num_blocks), block_size)
        ref = Scheduler(ref_tables, seqs, budget)
        mine = ns.Scheduler(my_tables, seqs, budget)
        ref_run = _drive(ref, ref_tables, _requests(seed, 14, (num_blocks - 1) * block_size), 400)
        my_run = _drive(mine, my_tables, _requests(seed, 14, (num_blocks - 1) * block_size), 400)
        for (step, expected), (_, got) in zip(ref_run, my_run, strict=False):
            e = [(r.request_id, n) for r, n in expected]
            g = [(getattr(r, "request_id", r), n) for r, n in got] if isinstance(got, list) else got
            where = f"{what}; step {step}, waiting {[r.request_id for r in mine.waiting]} before it"
            total = sum(n for _, n in g) if isinstance(g, list) else 0
            if total > budget:
                raise Mismatch(f"Scheduler.schedule ({where}): {total} tokens scheduled, over the token "
                               f"budget "
                               f"{budget}: {g}")
            if len(mine.running) > seqs:
                raise Mismatch(f"Scheduler.schedule ({where}): {len(mine.running)} requests running, over "
                               f"max_num_seqs {seqs}")
            if g != e:
                raise Mismatch(f"Scheduler.schedule ({where}):\nexpected [(request, tokens), ...] {e}\n"
                               f"got                                   {g}")
            check_equal("Scheduler: preemptions so far", mine.preemptions, ref.preemptions, where)
        # llmlab's run is over: the last batch is applied, nothing is left
        for step, got in my_run:
            raise Mismatch(f"Scheduler.schedule ({what}; step {step}): llmlab has finished every request, "
                           f"yet "
                           f"yours schedules {[(getattr(r, 'request_id', r), n) for r, n in got]}")
        if mine.has_work() or my_tables.alloc.num_in_use:
            raise Mismatch(f"Scheduler ({what}): after every request finished, {len(mine.running)} still "
                           f"run, "
                           f"{len(mine.waiting)} wait and {my_tables.alloc.num_in_use} blocks are in use")


# ---- SSE ----------------------------------------------------------------------------------------------
CHUNKS = [
    {"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "tiny",
     "choices": [{"index": 0, "text": "Hello", "logprobs": None, "finish_reason": None}]},
    {"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": " naïve café ☕ 日本",
                                                                 "finish_reason": None}]},
    {"id": "cmpl-1", "choices": [{"index": 0, "text": "line one\nline two\r\n\"quoted\" \\ back",
                                  "finish_reason": "stop"}]},
    {"id": "chatcmpl-2", "object": "chat.completion.chunk",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"id": "chatcmpl-2", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7,
                                                  "total_tokens": 12,
                                                  "prompt_tokens_details": {"cached_tokens": 4}}},
    {"error": {"message": "request failed: data: [DONE]\n\n", "type": "server_error",
               "code": "request_failed"}},
]


def grade_sse(ns) -> None:
    from openai._streaming import SSEDecoder

    from llmlab.serve.api import _sse

    for i, chunk in enumerate(CHUNKS):
        got = ns.sse_event(json.loads(json.dumps(chunk)))
        expected = _sse(chunk)
        what = f"chunk #{i}: {json.dumps(chunk, ensure_ascii=False)[:80]}"
        if not isinstance(got, str):
            raise Mismatch(f"sse_event ({what}): return the event as str, got {type(got).__name__}")
        if not got.endswith("\n\n"):
            raise Mismatch(f"sse_event ({what}): an event ends with a blank line (\"\\n\\n\"); yours ends "
                           f"{got[-12:]!r} — without it the client never sees the event end")
        check_equal("sse_event (the API's own encoder, byte for byte)", got, expected, what)
    stream = "".join(ns.sse_event(c) for c in CHUNKS) + "data: [DONE]\n\n"
    events = list(SSEDecoder().iter_bytes(iter([stream.encode("utf-8")])))
    got = [e.data for e in events]
    expected = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in CHUNKS] + ["[DONE]"]
    check_equal("a whole stream of your events, read back by the OpenAI client's SSEDecoder", got, expected,
                f"{len(CHUNKS)} chunks, then data: [DONE]")
