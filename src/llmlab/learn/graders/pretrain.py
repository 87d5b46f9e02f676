"""Graders of project 8: MinHash against exact Jaccard and datasketch, near-duplicate removal against llmlab's
on a seeded corpus of edited copies, token shards against llmlab's reader and writer, the schedule against
transformers' schedulers, and the sampler's resume against the run never interrupted.

The corpus is made here from a seeded vocabulary: each edited copy replaces a share of its original's words,
so its exact Jaccard similarity (of the 5-gram shingle sets llmlab's dedup compares) spreads from ~0.3 to 1.
"""

from __future__ import annotations

import functools
import json
import math
import tempfile
from pathlib import Path

import numpy as np

from llmlab.learn.grading import Mismatch, check_close, check_equal


# ---- a seeded corpus of documents and edited copies ---------------------------------------------------
def _corpus(seed: int = 0, originals: int = 30, copies: int = 40) -> list:
    """Documents of 150-300 words from a 500-word vocabulary, and copies with 0-15 % of their words replaced,
    shuffled so a copy may come before its original."""
    from llmlab.data.corpus import Document

    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(500)]
    docs = [[vocab[j] for j in rng.integers(0, 500, rng.integers(150, 300))] for _ in range(originals)]
    names = [f"doc{i}" for i in range(originals)]
    for c in range(copies):
        src = int(rng.integers(0, originals))
        words = list(docs[src])
        rate = float(rng.choice([0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.15]))
        for j in rng.choice(len(words), int(round(rate * len(words))), replace=False):
            words[j] = vocab[int(rng.integers(0, 500))]
        docs.append(words)
        names.append(f"copy{c}-of-doc{src}")
    order = rng.permutation(len(docs))
    return [Document(names[i], " ".join(docs[i])) for i in order]


@functools.lru_cache(maxsize=1024)
def _shingles(text: str, ngram: int) -> frozenset:
    from llmlab.data.dedup import shingle_hashes

    return frozenset(shingle_hashes(text, ngram).tolist())


def _exact_jaccard(a: str, b: str, ngram: int = 5) -> float:
    """|A ∩ B| / |A ∪ B| of the two texts' shingle SETS (a repeated shingle counts once)."""
    sa, sb = _shingles(a, ngram), _shingles(b, ngram)
    return len(sa & sb) / len(sa | sb)


# ---- minhash ------------------------------------------------------------------------------------------
def grade_minhash(ns) -> None:
    from llmlab.data.dedup import minhash_signature

    docs = _corpus()
    by_name = {d.name: d for d in docs}
    pairs = [(by_name[d.name.split("-of-")[1]], d) for d in docs if "-of-" in d.name][:16]
    pairs += [(docs[0], docs[1]), (docs[2], docs[3])]           # mostly unrelated: J near 0
    for num_perm in (256,):
        for a, b in pairs:
            sa, sb = ns.minhash_signature(a.text, num_perm, 5), ns.minhash_signature(b.text, num_perm, 5)
            sa, sb = np.asarray(sa), np.asarray(sb)
            what = f"{a.name} vs {b.name}, num_perm {num_perm}"
            check_equal("minhash_signature: shape", sa.shape, (num_perm,), what)
            j = _exact_jaccard(a.text, b.text)
            est = float(np.mean(sa == sb))
            tol = 4 * math.sqrt(max(j * (1 - j), 0.01) / num_perm) + 0.02
            if abs(est - j) > tol:
                raise Mismatch(f"minhash_signature ({what}): the share of equal entries is {est:.3f}, but "
                               f"the exact "
                               f"Jaccard of the two shingle sets is {j:.3f} (allowed: ±{tol:.3f}) — each "
                               f"entry must "
                               "be the MINIMUM of one permutation over the whole set")
    texts = [("a document of 60 words", docs[5].text[:400]), ("3 words, fewer than one 5-gram",
                                                              "Just three words"),
             ("an empty text", ""), ("an edited copy", pairs[0][1].text)]
    for what, text in texts:
        for num_perm, ngram in ((128, 5), (16, 3), (64, 1)):
            expected = minhash_signature(text, num_perm, ngram)
            got = np.asarray(ns.minhash_signature(text, num_perm, ngram))
            where = f"{what}, num_perm {num_perm}, ngram {ngram}"
            check_equal("minhash_signature: shape", got.shape, expected.shape, where)
            if got.dtype.kind not in "ui":
                raise Mismatch(f"minhash_signature ({where}): return unsigned integers (uint32), got "
                               f"{got.dtype}")
            if not np.array_equal(got.astype(np.int64), expected.astype(np.int64)):
                k = int(np.flatnonzero(got.astype(np.int64) != expected.astype(np.int64))[0])
                raise Mismatch(f"minhash_signature ({where}): {int((got != expected).sum())} of {num_perm} "
                               f"entries "
                               f"differ from datasketch's MinHash (llmlab's minhash_signature); first at k = "
                               f"{k}: "
                               f"expected {int(expected[k])}, got {int(got[k])} — the premix f, (a, b) from "
                               "MinHash(num_perm, seed=1, scheme='affine32'), uint32 wraparound")


# ---- near_dedup ---------------------------------------------------------------------------------------
def grade_near_dedup(ns) -> None:
    from llmlab.data.dedup import near_dedup

    for seed, threshold, num_perm in ((0, 0.8, 128), (1, 0.8, 128), (2, 0.6, 64), (3, 0.9, 128)):
        docs = _corpus(seed)
        what = f"corpus #{seed}: {len(docs)} documents, threshold {threshold}, num_perm {num_perm}"
        kept_ref, report_ref = near_dedup(list(docs), threshold, num_perm)
        got = ns.near_dedup(list(docs), threshold, num_perm)
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise Mismatch(f"near_dedup ({what}): return (kept documents, StageReport), got "
                           f"{type(got).__name__}")
        kept, report = got
        names = [d.name for d in kept]
        position = {d.name: i for i, d in enumerate(docs)}
        if names != sorted(names, key=position.__getitem__) or len(set(names)) != len(names):
            raise Mismatch(f"near_dedup ({what}): the kept documents must be in corpus order, each once")
        # against the exact Jaccard: a kept pair far above the threshold is a duplicate left in
        for i, a in enumerate(kept):
            for b in kept[i + 1:]:
                j = _exact_jaccard(a.text, b.text)
                if j >= min(0.97, threshold + 0.15):
                    raise Mismatch(f"near_dedup ({what}): kept both {a.name} and {b.name}, whose exact "
                                   f"Jaccard "
                                   f"is {j:.3f} (threshold {threshold}): the later one is a near duplicate")
        ref_names = [d.name for d in kept_ref]
        if names != ref_names:
            extra = [n for n in names if n not in ref_names]
            missing = [n for n in ref_names if n not in names]
            detail = []
            for n in extra[:1]:
                doc = docs[position[n]]
                best = max(((_exact_jaccard(doc.text, d.text), d.name) for d in kept_ref if position[d.name] <
                            position[n]), default=(0.0, "none"))
                detail.append(f"you keep {n}; llmlab drops it (exact Jaccard {best[0]:.3f} with the kept "
                              f"{best[1]})")
            for n in missing[:1]:
                doc = docs[position[n]]
                best = max(((_exact_jaccard(doc.text, d.text), d.name) for d in kept if position[d.name] <
                            position[n]), default=(0.0, "none"))
                detail.append(f"you drop {n}; llmlab keeps it (its closest earlier document you kept: "
                              f"{best[1]}, "
                              f"exact Jaccard {best[0]:.3f})")
            raise Mismatch(f"near_dedup ({what}): you keep {len(names)} documents, llmlab {len(ref_names)}; "
                           + "; ".join(detail))
        check_equal("near_dedup: the report (documents, bytes, the first examples)",
                    report.as_dict() if hasattr(report, "as_dict") else report, report_ref.as_dict(), what)


# ---- shards -------------------------------------------------------------------------------------------
def grade_shards(ns) -> None:
    from llmlab.data import shards

    for vocab in (2, 300, 50257, 65535, 65536, 65537, 100_000, 2**32):
        check_equal("token_dtype", np.dtype(ns.token_dtype(vocab)), shards.token_dtype(vocab),
                    f"vocab_size {vocab}")
    rng = np.random.default_rng(0)
    cases = [("300 ids of a 300-token vocabulary", 300, rng.integers(0, 300, 300)),
             ("1000 ids of a 65,536-token vocabulary, the largest id included", 65536,
              np.append(rng.integers(0, 65536, 999), 65535)),
             ("777 ids of a 100,000-token vocabulary", 100_000, rng.integers(0, 100_000, 777)),
             ("an empty shard", 50257, np.zeros(0, dtype=np.int64)),
             ("5 ids, a header with non-ASCII text", 300, np.array([1, 2, 3, 4, 5]))]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, (what, vocab, ids) in enumerate(cases):
            tokens = ids.astype(shards.token_dtype(vocab))
            header = {"split": "train", "vocab_size": vocab, "eot_id": 0, "index": i,
                      "note": "naïve café ☕" if "non-ASCII" in what else "plain"}
            mine, ref = tmp / f"mine_{i}.bin", tmp / f"ref_{i}.bin"
            out = ns.write_shard(mine, tokens.copy(), dict(header))
            shards.write_shard(ref, tokens.copy(), dict(header))
            if out is None or Path(out) != mine:
                raise Mismatch(f"write_shard ({what}): return the path written, got {out!r}")
            if list(tmp.glob("*.tmp")):
                raise Mismatch(f"write_shard ({what}): a .tmp file was left behind — write it, then rename "
                               f"it over "
                               "the path")
            try:
                h = shards.read_header(mine)
            except Exception as exc:
                raise Mismatch(f"write_shard ({what}): llmlab's read_header cannot read your file: "
                               f"{exc}") from None
            check_equal("write_shard: the header as llmlab reads it", h, shards.read_header(ref), what)
            if h["data_offset"] % shards.ALIGN:
                raise Mismatch(f"write_shard ({what}): the ids start at byte {h['data_offset']}, not a "
                               f"multiple of "
                               f"{shards.ALIGN}")
            check_equal("write_shard: the ids as llmlab's open_shard reads them",
                        shards.open_shard(mine).tolist(),
                        tokens.tolist(), what)
            a, b = mine.read_bytes(), ref.read_bytes()
            if a != b:
                k = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
                raise Mismatch(f"write_shard ({what}): your file differs from llmlab's at byte {k} (sizes "
                               f"{len(a)} and "
                               f"{len(b)}): yours {a[max(0, k - 8):k + 8]!r}, llmlab's "
                               f"{b[max(0, k - 8):k + 8]!r}")
            expected = shards.read_header(ref)
            check_equal("read_header (a shard llmlab wrote)", ns.read_header(ref), expected, what)
            got = ns.open_shard(ref)
            if not isinstance(got, np.memmap):
                raise Mismatch(f"open_shard ({what}): return an np.memmap (no copy in RAM), got "
                               f"{type(got).__name__}")
            check_equal("open_shard: dtype", got.dtype.newbyteorder("<"), tokens.dtype.newbyteorder("<"),
                        what)
            check_equal("open_shard (a shard llmlab wrote): the ids", got.tolist(), tokens.tolist(), what)
            if got.flags.writeable:
                raise Mismatch(f"open_shard ({what}): open it read-only (mode 'r'): a training run must not "
                               f"change "
                               "its data")
            del got
        bad = tmp / "not_a_shard.bin"
        bad.write_bytes(b"GPT2 raw tokens" + bytes(64))
        try:
            ns.read_header(bad)
        except Exception as exc:
            from llmlab.errors import LabError

            if not isinstance(exc, LabError):
                raise Mismatch(f"read_header (a file that starts with b'GPT2 raw'): raise LabError saying it "
                               f"is not "
                               f"a shard, got {type(exc).__name__}: {exc}") from None
        else:
            raise Mismatch("read_header (a file that starts with b'GPT2 raw'): it is not a shard — raise "
                           "LabError")


# ---- schedule -----------------------------------------------------------------------------------------
def grade_schedule(ns) -> None:
    import torch
    from transformers import (
        get_constant_schedule_with_warmup,
        get_cosine_with_min_lr_schedule_with_warmup,
        get_linear_schedule_with_warmup,
    )

    for warmup, total, lr, min_lr, shape in ((10, 100, 6e-4, 6e-5, "cosine"), (0, 50, 1e-3, 1e-4, "cosine"),
                                             (3, 20, 1.0, 0.0, "cosine"), (5, 40, 3e-4, 0.0, "linear"),
                                             (7, 30, 2e-3, 0.0, "constant"), (1, 2, 0.5, 0.05, "cosine")):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        if shape == "cosine":
            sched = get_cosine_with_min_lr_schedule_with_warmup(opt, warmup, total, min_lr=min_lr)
        elif shape == "linear":
            sched = get_linear_schedule_with_warmup(opt, warmup, total)
        else:
            sched = get_constant_schedule_with_warmup(opt, warmup)
        name = type(sched).__name__ + " from transformers' get_" + {"cosine": "cosine_with_min_lr_schedule",
                                                                     "linear": "linear_schedule",
                                                                     "constant": "constant_schedule"}[shape]
        got, expected = [], []
        for step in range(total + 6):
            # transformers' cosine turns back up after `total`; llmlab's stays at min_lr (training is over)
            expected.append(sched.get_last_lr()[0] if step < total or shape == "constant" else min_lr)
            got.append(ns.warmup_then_decay(step, warmup, total, lr, min_lr, shape))
            opt.step()
            sched.step()
        what = f"steps 0..{total + 5}, warmup {warmup}, total {total}, lr {lr:g}, min_lr {min_lr:g}, {shape}"
        check_close(f"warmup_then_decay vs {name}_with_warmup", got, expected, 1e-9, what)
    # fractions of a run, as the NumPy trainer calls it (its progress follows the clock)
    fractions = np.linspace(0, 1.2, 25)
    got = [ns.warmup_then_decay(float(f), 0.1, 1.0, 1e-3, 1e-4) for f in fractions]
    expected = [1e-3 * f / 0.1 if f < 0.1 else 1e-4 if f >= 1 else
                1e-4 + 0.5 * (1 + math.cos(math.pi * (f - 0.1) / 0.9)) * (1e-3 - 1e-4) for f in fractions]
    check_close("warmup_then_decay in fractions of a run", got, expected, 1e-9,
                "done 0, 0.05, ..., 1.2; warmup 0.1, total 1.0, lr 1e-3, min_lr 1e-4, cosine")


# ---- resume -------------------------------------------------------------------------------------------
def _batches(sampler, n: int) -> list:
    return [tuple(t.clone() for t in sampler.next_batch()) for _ in range(n)]


def _same(what: str, got: list, expected: list, where: str) -> None:
    for i, ((gx, gy), (ex, ey)) in enumerate(zip(got, expected, strict=True)):
        check_equal(f"{what}: batch {i}: x's shape", tuple(gx.shape), tuple(ex.shape), where)
        if not (np.array_equal(gx.numpy(), ex.numpy()) and np.array_equal(gy.numpy(), ey.numpy())):
            raise Mismatch(f"{what} ({where}): batch {i} differs: expected x[:, :6] = {ex[:, :6].tolist()}, "
                           f"got {gx[:, :6].tolist()}")


def grade_resume(ns) -> None:
    import torch

    from llmlab.errors import LabError
    from llmlab.training.batches import TokenWindows

    rng = np.random.default_rng(0)
    one = rng.integers(0, 1000, 5000).astype(np.uint16)
    # the short one is skipped
    shards_ = [rng.integers(0, 1000, n).astype(np.uint16) for n in (700, 20, 1300)]
    for data, what in ((one, "one array of 5,000 tokens"), (shards_,
                                                            "three shards of 700, 20 and 1,300 tokens")):
        where = f"{what}, block_size 16, batch_size 4, seed 7"
        ref = _batches(TokenWindows(data, 16, 4, seed=7), 6)
        theirs = ns.TokenWindows(data, 16, 4, seed=7)
        got = _batches(theirs, 6)
        x, y = got[0]
        check_equal("next_batch: x's dtype", x.dtype, torch.int64, where)
        if not torch.equal(x[:, 1:], y[:, :-1]):
            raise Mismatch(f"next_batch ({where}): y must be x shifted by one token (y[:, :-1] == x[:, 1:])")
        _same("next_batch vs llmlab's TokenWindows", got, ref, where)
        check_equal("eval_batch(0) after training batches",
                    theirs.eval_batch(0)[0].tolist(), TokenWindows(data, 16, 4,
                                                                   seed=7).eval_batch(0)[0].tolist(),
                    where)
        for cut in (0, 1, 3, 5):
            first = ns.TokenWindows(data, 16, 4, seed=7)
            _batches(first, cut)
            state = first.state_dict()
            try:
                state = json.loads(json.dumps(state))
            except TypeError as exc:
                raise Mismatch(f"state_dict ({where}): the Trainer saves it as JSON, and it is not JSON: "
                               f"{exc}") from None
            resumed = ns.TokenWindows(data, 16, 4, seed=123)          # the state's seed must win
            resumed.load_state_dict(state)
            _same(f"after resuming from a state saved after {cut} batches", _batches(resumed, 6 - cut),
                  ref[cut:],
                  where)
    # 2 processes x 2 micro-batches of 2 windows = one process x 4 micro-batches: the same global batch per
    # step
    where = "one array of 5,000 tokens, block_size 8, seed 3: 2 processes x grad_accum 2 x batch 2"
    single = ns.TokenWindows(one, 8, 2, seed=3)
    single.bind(0, 1, 4)
    whole = _batches(single, 8)                                   # 2 optimizer steps
    ranks = []
    for rank in (0, 1):
        s = ns.TokenWindows(one, 8, 2, seed=3)
        s.bind(rank, 2, 2)
        head = _batches(s, 1)
        state = json.loads(json.dumps(s.state_dict()))            # cut after one micro-batch, resumed
        r = ns.TokenWindows(one, 8, 2, seed=3)
        r.bind(rank, 2, 2)
        r.load_state_dict(state)
        ranks.append(head + _batches(r, 3))
    for step in range(2):
        expected = torch.cat([whole[step * 4 + m][0] for m in range(4)])
        got = torch.cat([ranks[rank][step * 2 + micro][0] for micro in range(2) for rank in range(2)])
        if not torch.equal(got, expected):
            raise Mismatch(f"next_batch with bind ({where}): optimizer step {step}'s windows over both "
                           f"processes "
                           f"(micro-batch m, rank r -> part m·2 + r) differ from one process with grad_accum "
                           f"4: "
                           f"expected first tokens {expected[:, 0].tolist()}, got {got[:, 0].tolist()}")
    state = ns.TokenWindows(one, 16, 4).state_dict()
    try:
        ns.TokenWindows(one, 32, 4).load_state_dict(state)
    except LabError:
        pass
    except Exception as exc:
        raise Mismatch(f"load_state_dict (a state saved with block_size 16, loaded at 32): raise LabError "
                       f"naming "
                       f"both sizes, got {type(exc).__name__}: {exc}") from None
    else:
        raise Mismatch("load_state_dict (a state saved with block_size 16, loaded at 32): the run cannot "
                       "continue "
                       "with other windows — raise LabError naming both sizes")
