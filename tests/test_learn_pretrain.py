"""Project 8's exercises (pretraining data and schedule): llmlab's own code passes each grader (MinHash
against exact Jaccard and datasketch, near_dedup against llmlab's on a seeded corpus of edited copies, shards
against llmlab's reader and writer, the schedule against transformers' schedulers, the sampler's resume
against the run never cut), the untouched stub fails it clearly, and planted bugs fail it."""


from learn_helpers import contract_tests, grade_text, planted
from llmlab.learn.catalog import project

PROJECT = project("pretrain")
NAMES = [ex.name for ex in PROJECT.exercises]

# (what, old, new, replace every occurrence)
BUGS = {
    "minhash": [
        ("datasketch's permutations of seed 2, not 1 (a fine estimator, other values)",
         "hashfunc=_identity, seed=1",
         "hashfunc=_identity, seed=2", False),
        ("only one shingle of the set", "shingle_hashes(text, ngram).tolist()",
         "shingle_hashes(text, ngram)[:1].tolist()", False),
        ("ngram ignored", "shingle_hashes(text, ngram)", "shingle_hashes(text, 5)", False),
    ],
    "near_dedup": [
        ("LSH band size off by one (r + 1 rows per band)",
         "lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)",
         "_p = MinHashLSH(threshold=threshold, num_perm=num_perm); "
         "lsh = MinHashLSH(num_perm=num_perm, params=(min(_p.b, num_perm // (_p.r + 1)), _p.r + 1))", False),
        ("LSH candidates not confirmed by the signatures' Jaccard",
         "if match is not None and match[0] >= threshold:",
         "if match is not None:", False),
        ("the estimate's threshold halved", "if match is not None and match[0] >= threshold:",
         "if match is not None and match[0] >= threshold / 2:", False),
    ],
    "shards": [
        ("header dtype wrong: uint32 already at a vocabulary of 65,536", "vocab_size <= 2**16",
         "vocab_size < 2**16",
         False),
        ("the header length written big-endian", 'struct.pack("<I", len(body))',
         'struct.pack(">I", len(body))', False),
        ("no padding to the 64-byte boundary", "pad = (-(len(MAGIC) + 4 + len(body))) % ALIGN", "pad = 0",
         False),
        ("the reader's offset misses the 4-byte length", 'header["data_offset"] = len(MAGIC) + 4 + size',
         'header["data_offset"] = len(MAGIC) + size', False),
        ("not atomic: the temporary file copied and left behind", "tmp.replace(path)",
         "path.write_bytes(tmp.read_bytes())", False),
    ],
    "schedule": [
        ("warmup off by one", "return lr * done / warmup", "return lr * (done + 1) / warmup", False),
        ("min_lr ignored (decays to 0)", "return min_lr + weight * (lr - min_lr)", "return weight * lr",
         False),
        ("a whole cosine period instead of half", "math.cos(math.pi * ratio)",
         "math.cos(2 * math.pi * ratio)", False),
        ("no flat tail after total", "    if done >= total:\n        return min_lr\n", "", False),
    ],
    "resume": [
        ("resume re-reads the last batch", 'return {"cursor": self.cursor,',
         'return {"cursor": max(0, self.cursor - 1),',
         False),
        ("one generator per seed, not per step (every step the same windows)",
         "np.random.default_rng([self.seed, stream, index])", "np.random.default_rng([self.seed, stream])",
         False),
        ("the saved seed ignored on resume", 'self.seed = int(state.get("seed", self.seed))', "pass", False),
        ("every process takes the same slice", "part = micro * self.world_size + self.rank", "part = micro",
         False),
    ],
}


# every exercise: two planted bugs or more, llmlab passes, the stub fails clearly, each bug fails
(test_every_exercise_has_at_least_two_planted_bugs, test_llmlabs_own_code_passes,
 test_the_untouched_stub_fails_clearly, test_a_planted_bug_fails) = contract_tests("pretrain", BUGS)


def test_failing_cases_are_said_in_words(tmp_path):
    few = planted("pretrain", "minhash", "shingle_hashes(text, ngram).tolist()",
                  "shingle_hashes(text, ngram)[:1].tolist()")
    message = grade_text(tmp_path, "pretrain", "minhash", few).message
    assert "exact Jaccard of the two shingle sets" in message
    seed = planted("pretrain", "minhash", "hashfunc=_identity, seed=1", "hashfunc=_identity, seed=2")
    assert "differ from datasketch's MinHash" in grade_text(tmp_path, "pretrain", "minhash", seed).message
    replay = planted("pretrain", "resume", 'return {"cursor": self.cursor,',
                     'return {"cursor": max(0, self.cursor - 1),')
    assert "after resuming from a state saved after 1 batches" in grade_text(tmp_path, "pretrain", "resume",
                                                                           replay).message
