"""The mutants `make mutation` runs: one deliberate one-line bug each, in the lab's core algorithms.

    Mutant("ln-unbiased-var", "numpy_transformer/layernorm.py", "xhat, xhat) / c ", "xhat, xhat) / (c - 1) ",
           "nt-parity", "LayerNorm with the unbiased variance (torch.var's default)")

A mutant names a file under src/llmlab, a snippet that occurs there exactly once, what it becomes, the suite
of tests that should notice, and the bug a person could plausibly write. `equivalent` holds the reason when a
mutant cannot change any behaviour the lab promises (it is run anyway, and left out of the kill rate).
The suites are narrow on purpose (one test file, `-k` where it helps): the whole run fits in about half an
hour on two shared cores. Add a mutant whenever a test is written for a bug that slipped through.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str            # under src/llmlab
    original: str        # occurs exactly once in the file
    mutated: str
    suite: str           # a key of SUITES
    why: str             # the bug it imitates
    equivalent: str = ""  # why no test can tell it apart, when that is so


# pytest arguments of each suite, run with -x -q against a mutated copy of src/. One -k filters every file
# given, so it names the added test files by their module (a test's keywords include its module's name).
# The *_mutants.py files, written for mutants the older tests missed, come last: a mutant whose first
# failure is in one of them is one the older tests let through.
SUITES: dict[str, list[str]] = {
    "nt-grad": ["tests/test_numpy_transformer_layers.py", "-k", "finite_differences or sinusoidal"],
    "nt-parity": ["tests/test_numpy_transformer_parity.py", "tests/test_numpy_transformer_mutants.py",
                  "-k", "(logits_equal and float64) or gradients_equal or test_numpy_transformer_mutants"],
    "nt-optim": ["tests/test_numpy_transformer_parity.py", "tests/test_numpy_transformer_mutants.py",
                 "-k", "adamw or test_numpy_transformer_mutants"],
    "bpe-train": ["tests/test_bpe_tokenizer.py", "-k", "naive or overlapping or merge_order or no_pair_is_left"],
    "bpe-encode": ["tests/test_bpe_tokenizer.py", "tests/test_bpe_mutants.py",
                   "-k", "tiktoken or roundtrip or special or test_bpe_mutants"],
    "gen-proc": ["tests/test_generation_processors.py", "tests/test_generation_mutants.py",
                 "-k", "not beam_search and not finished_beam"],
    "gen-beam": ["tests/test_generation_decode.py", "tests/test_generation_mutants.py",
                 "-k", "beam_search or finished_beam or with_eos or (without_eos and prompt0)"],
    "lora": ["tests/test_finetune_lora.py", "tests/test_finetune_lora_mutants.py", "-k", "not equals_peft"],
    "lora-peft": ["tests/test_finetune_lora.py", "-k", "equals_peft or wrong_scaling"],
    "rag": ["tests/test_rag_retrieval.py", "tests/test_rag_mutants.py", "-k", "bm25 or rrf or test_rag_mutants"],
    "serve-blocks": ["tests/test_serve_blocks.py", "tests/test_serve_mutants.py",
                     "-k", "hash_chain or lru or never_leaks or test_serve_mutants"],
    "serve-engine": ["tests/test_serve_engine.py", "tests/test_serve_preemption.py", "tests/test_serve_mutants.py",
                     "-k", "test_serve_mutants or test_serve_preemption or "
                           "(gpt2 and (transformers or generate or prefix or pressure))"],
}

M = Mutant
NT, TOK, GEN, SERVE = "numpy_transformer/", "tokenizer/", "generation/", "serve/"

NUMPY_LAYERS = [
    M("gelu-forward-no-k", NT + "activations.py", "t *= A * K\n", "t *= A\n", "nt-grad",
      "GELU's cubic term without the √(2/π) factor"),
    M("gelu-backward-no-3", NT + "activations.py", "p *= 3.0 * A * K", "p *= A * K", "nt-grad",
      "GELU derivative forgets the 3 of d(x³)/dx"),
    M("gelu-backward-tanh-sign", NT + "activations.py", "p *= 1.0 - t\n", "p *= 1.0 + t\n", "nt-grad",
      "tanh' = 1 + t instead of (1 - t)(1 + t) factor"),
    M("relu-mask-ge", NT + "activations.py", "self._mask = x > 0", "self._mask = x >= 0", "nt-grad",
      "ReLU derivative 1 at x = 0",
      equivalent="x * (x >= 0) equals x * (x > 0) everywhere, and the derivative at exactly 0 is a convention"),
    M("softmax-no-max-shift", NT + "activations.py", "    z -= z.max(axis=-1, keepdims=True)\n", "", "nt-parity",
      "softmax without subtracting the row max (overflows on large scores)"),
    M("softmax-backward-sign", NT + "activations.py", "dp -= np.einsum", "dp += np.einsum", "nt-grad",
      "softmax backward adds Σ dp p instead of subtracting it"),
    M("ln-unbiased-var", NT + "layernorm.py", 'xhat, xhat) / c ', 'xhat, xhat) / (c - 1) ', "nt-parity",
      "LayerNorm with the unbiased variance (torch.var's default)"),
    M("ln-eps-outside-sqrt", NT + "layernorm.py", "np.sqrt(var + self.eps)", "(np.sqrt(var) + self.eps)",
      "nt-parity", "ε added to the standard deviation instead of the variance"),
    M("ln-backward-no-weight", NT + "layernorm.py", 'g = dy2 * self.params["weight"]', "g = dy2.copy()", "nt-grad",
      "LayerNorm backward forgets the gain"),
    M("ln-dw-no-xhat", NT + "layernorm.py", "np.sum(dy2 * xhat, axis=0", "np.sum(dy2, axis=0", "nt-grad",
      "gain gradient computed like the bias gradient"),
    M("attn-no-scale", NT + "attention.py", "        att *= self.scale\n", "", "nt-parity",
      "attention scores without 1/√hs"),
    M("attn-no-mask", NT + "attention.py", "        att += bias\n", "", "nt-parity",
      "causal mask never applied"),
    M("attn-swap-qk", NT + "attention.py", "for i in range(3))", "for i in (1, 0, 2))", "nt-parity",
      "q and k swapped when splitting the fused projection"),
    M("attn-backward-no-scale", NT + "attention.py", "        datt *= self.scale\n", "", "nt-grad",
      "attention backward forgets the scale"),
    M("attn-dq-uses-v", NT + "attention.py", "np.matmul(datt, k, out=dq)", "np.matmul(datt, v, out=dq)", "nt-grad",
      "dq = dS v instead of dS k"),
    M("attn-dk-no-transpose", NT + "attention.py", "np.matmul(datt.swapaxes(-1, -2), q, out=dk)",
      "np.matmul(datt, q, out=dk)", "nt-grad", "dk = dS q instead of dSᵀ q"),
    M("attn-dv-no-transpose", NT + "attention.py", "np.matmul(att.swapaxes(-1, -2), dy, out=dv)",
      "np.matmul(att, dy, out=dv)", "nt-grad", "dv = P dy instead of Pᵀ dy"),
    M("linear-no-bias", NT + "linear.py", '            y += self.params["bias"]\n', "            pass\n",
      "nt-parity", "Linear forgets its bias"),
    M("emb-no-zero", NT + "embedding.py", "if not accumulate:", "if accumulate:", "nt-grad",
      "the embedding gradient is never cleared (or cleared over the tied head's share)"),
    M("emb-fancy-index-add", NT + "embedding.py", "np.add.at(grad, self._ids.reshape(-1), dy.reshape(-1, grad.shape[1]))",
      "grad[self._ids.reshape(-1)] += dy.reshape(-1, grad.shape[1])", "nt-grad",
      "scatter with fancy-index += (repeated ids count once)"),
    M("sinusoid-cos-is-sin", NT + "embedding.py", "table[:, 1::2] = np.cos(", "table[:, 1::2] = np.sin(", "nt-grad",
      "odd dimensions use sin"),
    M("ce-mean-over-all", NT + "loss.py", "sum(dtype=np.float64) / n)", "sum(dtype=np.float64) / targets.shape[0])",
      "nt-parity", "loss averaged over ignored targets too"),
    M("ce-backward-keep-ignored", NT + "loss.py", "        probs[~valid] = 0\n", "", "nt-parity",
      "ignored (padding) targets still send gradient"),
    M("ce-backward-sign", NT + "loss.py", "probs[np.arange(probs.shape[0]), safe] -= scale",
      "probs[np.arange(probs.shape[0]), safe] += scale", "nt-grad", "softmax + onehot instead of - onehot"),
    M("ce-no-max-shift", NT + "loss.py", "        logits -= logits.max(axis=-1, keepdims=True)", "        pass",
      "nt-parity", "cross-entropy without the max shift (overflows on large logits)"),
    M("adamw-m-beta", NT + "optim.py", "m += (1.0 - b1) * g", "m += b1 * g", "nt-optim",
      "first moment weighted by β₁ instead of 1 - β₁"),
    M("adamw-decay-no-lr", NT + "optim.py", "p *= 1.0 - lr * self.weight_decay", "p *= 1.0 - self.weight_decay",
      "nt-optim", "weight decay not scaled by the learning rate"),
    M("adamw-decay-vectors", NT + "optim.py", "decay_vectors or p.ndim >= 2", "decay_vectors or p.ndim >= 1",
      "nt-optim", "biases and LayerNorm gains decayed too"),
    M("clip-inverted", NT + "optim.py", "if coef < 1.0:", "if coef > 1.0:", "nt-optim",
      "clipping scales up small gradients instead of down large ones"),
]

TOKENIZER = [
    M("bpe-tie-by-id", TOK + "merges.py", "heap = [(-count, order[a], order[b], a, b)", "heap = [(-count, a, b, a, b)",
      "bpe-train", "ties broken by byte value instead of HF's stand-in character order"),
    M("bpe-left-neighbour-count", TOK + "merges.py", "pair_counts[(x, a)] -= freq", "pair_counts[(x, a)] += freq",
      "bpe-train", "the x a pair's count goes up when a b merges"),
    M("bpe-stale-accepted", TOK + "merges.py", "if count != -neg_count:", "if count > -neg_count:", "bpe-train",
      "a stale heap entry (count went down) is merged as if it were the best"),
    M("bpe-overlap-step", TOK + "merges.py", "                    out.append(new)\n                    i += 2\n",
      "                    out.append(new)\n                    i += 1\n", "bpe-train",
      "after a merge the next pair starts inside it (\"aaa\")"),
    M("bpe-naive-overlap-step", TOK + "merges.py", "            out.append(new)\n            i += 2\n",
      "            out.append(new)\n            i += 1\n", "bpe-train", "the textbook loop's merge_word overlaps"),
    M("bpe-vocab-off-by-one", TOK + "merges.py", "while len(learned.vocab) < n_tokens and heap:",
      "while len(learned.vocab) <= n_tokens and heap:", "bpe-train", "one merge too many"),
    M("bpe-encode-rightmost", TOK + "bpe.py", "i = ranks.index(best)", "i = len(ranks) - 1 - ranks[::-1].index(best)",
      "bpe-encode", "the rightmost occurrence of the best pair is merged first"),
    M("bpe-encode-stale-left", TOK + "bpe.py", "            if i > 0:\n                ranks[i - 1]",
      "            if False:\n                ranks[i - 1]", "bpe-encode", "the left neighbour's rank is not updated"),
    M("bpe-encode-stale-right", TOK + "bpe.py", "            if i < len(ranks):\n", "            if False:\n",
      "bpe-encode", "the right neighbour's rank is not updated"),
    M("special-shortest-first", TOK + "bpe.py", "key=len, reverse=True)", "key=len)", "bpe-encode",
      "a special token that is a prefix of another shadows it"),
    M("special-allowed-still-refused", TOK + "bpe.py", "disallowed = set(self._special) - allowed if",
      "disallowed = set(self._special) if", "bpe-encode", "allowed special tokens are refused too"),
    M("special-same-id", TOK + "bpe.py", "self._special[token] = self.vocab_size", "self._special[token] = len(self.vocab)",
      "bpe-encode", "every special token gets the same id"),
]

GENERATION = [
    M("temperature-zero-divides", GEN + "processors.py", "namespace(t).where(t > 0, t, 1.0)",
      "namespace(t).where(t >= 0, t, 1.0)", "gen-proc", "a greedy row (T = 0) in a tensor batch is divided by 0"),
    M("top-k-drops-kth", GEN + "processors.py", "(logits < kth) & (k_col > 0)", "(logits <= kth) & (k_col > 0)", "gen-proc",
      "top-k keeps k - 1 tokens"),
    M("top-k-off-by-one", GEN + "processors.py", "take_last(sorted_desc, (k_col - 1).clip(0, None))",
      "take_last(sorted_desc, k_col.clip(0, logits.shape[-1] - 1))", "gen-proc", "top-k keeps k + 1 tokens"),
    M("top-p-strict", GEN + "processors.py", "remove_sorted = cumulative <= (1.0 - p_col)",
      "remove_sorted = cumulative < (1.0 - p_col)", "gen-proc", "top-p boundary token kept when exactly at 1 - p",
      equivalent="differs only when a cumulative float sum equals 1 - p exactly; transformers' own rule is <= and "
                 "no float input a test can build hits the equality without constructing it bit for bit"),
    M("top-p-descending", GEN + "processors.py", "sorted_idx = sort_last(logits)", "sorted_idx = sort_last(logits, descending=True)",
      "gen-proc", "cumulative mass taken from the top"),
    M("top-p-drop-top", GEN + "processors.py", "    remove_sorted[..., -1] = False", "    pass", "gen-proc",
      "the most likely token is not protected (p = 0 empties the row)"),
    M("repetition-sign", GEN + "processors.py", "where(seen < 0, seen * r, seen / r)",
      "where(seen < 0, seen / r, seen * r)", "gen-proc", "the penalty rewards repeated tokens"),
    M("repetition-empty-row", GEN + "processors.py", "r = namespace(r).where(empty, 1.0, r)", "pass",
      "gen-proc", "a row with no history is penalised on token 0 (its padding)"),
    M("order-top-p-before-temperature", GEN + "processors.py",
      "    logits = apply_temperature(logits, temp)\n    logits = top_k_filter(logits, k)\n    return top_p_filter(logits, p)",
      "    logits = top_p_filter(logits, p)\n    logits = top_k_filter(logits, k)\n    return apply_temperature(logits, temp)",
      "gen-proc", "top-p computed before temperature (transformers applies temperature first)"),
    M("sample-greedy-swapped", GEN + "sampling.py", "xp.where(greedy, out, _draw(probs, gens))",
      "xp.where(greedy, _draw(probs, gens), out)",
      "gen-proc", "greedy rows sample and sampling rows take the argmax"),
    M("beam-no-length-penalty", GEN + "beam.py", "final = cand_scores / ((cur + 1 - start) ** length_penalty)",
      "final = cand_scores", "gen-beam", "finished hypotheses not length-normalised"),
    M("beam-all-start", GEN + "beam.py", "    running_scores[0] = 0.0", "    running_scores[:] = 0.0", "gen-beam",
      "N identical beams all expand at the first step"),
    M("beam-reorder-keep", GEN + "beam.py", "stepper.reorder(next_parent)", "stepper.reorder(keep)", "gen-beam",
      "the KV cache reordered by candidate index, not by parent beam"),
    M("beam-any-may-finish", GEN + "beam.py", "final = final + (~(ended & top_n)).float() * NEG",
      "final = final + (~ended).float() * NEG", "gen-beam", "candidates past the top N may enter the finished set"),
    M("beam-no-repetition-penalty", GEN + "beam.py",
      "log_probs = apply_repetition_penalty(log_probs, running, repetition_penalty)", "pass", "gen-beam",
      "beam search ignores repetition_penalty"),
    M("beam-can-improve-forgotten", GEN + "beam.py", "can_improve = can_improve and bool(",
      "can_improve = bool(", "gen-beam", "a beam that could not improve is allowed to again",
      equivalent="the loop breaks the moment can_improve turns False, so the `and` never sees a False to keep"),
]

LORA = [
    M("lora-scaling-alpha", "finetune/lora.py", "self.scaling = self.alpha / self.r", "self.scaling = self.alpha",
      "lora-peft", "update scaled by alpha instead of alpha / r"),
    M("lora-conv1d-no-transpose", "finetune/lora.py", "return delta.T if self.fan_in_fan_out else delta",
      "return delta", "lora", "Conv1D's (in, out) weight merged with an (out, in) update"),
    M("lora-unmerge-adds", "finetune/lora.py", "self.base.weight -= self.delta_weight()",
      "self.base.weight += self.delta_weight()", "lora", "unmerge adds the update again"),
    M("lora-merge-twice", "finetune/lora.py", "        if not self.merged:\n            self.base.weight +=",
      "        if True:\n            self.base.weight +=", "lora", "merging twice adds the update twice"),
    M("lora-merged-forward-adds", "finetune/lora.py", "        if self.merged:\n            return out\n", "",
      "lora", "a merged layer still adds the low-rank path"),
    M("lora-suffix-match", "finetune/lora.py", 'name.endswith("." + t)', "name.endswith(t)", "lora",
      "target \"proj\" also wraps \"c_proj\""),
    M("lora-base-trains", "finetune/lora.py", "    for p in model.parameters():\n        p.requires_grad_(False)\n",
      "", "lora", "add_lora leaves the base model trainable"),
]

RAG = [
    M("bm25-idf-no-smoothing", "search/bm25.py", "- np.log(f + 0.5)", "- np.log(f)", "rag", "idf without the +0.5"),
    M("bm25-floor-le", "search/bm25.py", "(floor if v < 0 else v)", "(floor if v <= 0 else v)", "rag",
      "a term in exactly half the chunks (idf 0) is floored"),
    M("bm25-no-floor", "search/bm25.py", "(floor if v < 0 else v)", "(0.0 if v < 0 else v)", "rag",
      "negative idf clipped to 0 instead of rank_bm25's epsilon floor"),
    M("bm25-k1-plus-one", "search/bm25.py", "f * (self.k1 + 1)", "f * self.k1", "rag", "numerator k1 instead of k1 + 1"),
    M("bm25-length-inverted", "search/bm25.py", "b * self.doc_len / max(self.avgdl, 1e-12)",
      "b * max(self.avgdl, 1e-12) / np.maximum(self.doc_len, 1)", "rag", "length normalisation upside down"),
    M("bm25-keeps-zero", "search/bm25.py", "zero = scores <= 0", "zero = scores < 0", "rag",
      "chunks that share no word with the query are returned"),
    M("rrf-rank-from-zero", "rag/fusion.py", "enumerate(ranking, start=1)", "enumerate(ranking)", "rag",
      "ranks counted from 0"),
    M("rrf-keeps-padding", "rag/fusion.py", "            if item < 0:", "            if item < -1:", "rag",
      "the -1 padding of a short list is fused as an item"),
    M("rrf-ignores-weights", "rag/fusion.py", "w / (k + rank)", "1.0 / (k + rank)", "rag", "weights ignored"),
]

SERVING = [
    M("hash-no-parent", SERVE + "block_allocator.py", "blake2b(parent + array", "blake2b(array", "serve-blocks",
      "a block named by its own tokens only: same tokens after a different prefix hit"),
    M("lru-evicts-newest", SERVE + "block_allocator.py", "block, _ = self.evictable.popitem(last=False)        #",
      "block, _ = self.evictable.popitem(last=True)        #", "serve-blocks", "most recently released evicted first"),
    M("evict-keeps-hash", SERVE + "block_allocator.py",
      "            del self.by_hash[self.hash_of[block]]\n            self.hash_of[block] = None\n            self.evictions",
      "            self.evictions", "serve-blocks", "an evicted block is still found by its old hash"),
    M("take-leaves-evictable", SERVE + "block_allocator.py",
      "        if self.refs[block] == 0:\n            del self.evictable[block]\n", "", "serve-blocks",
      "a revived cached block can also be evicted while in use"),
    M("register-overwrites", SERVE + "block_allocator.py", "if not self.caching or h in self.by_hash or",
      "if not self.caching or", "serve-blocks", "a second copy of a cached block steals its hash"),
    M("num-free-no-evictable", SERVE + "block_allocator.py", "return len(self.free) + len(self.evictable)",
      "return len(self.free)", "serve-blocks", "cached-but-idle blocks not counted as available"),
    M("blocks-needed-floor", SERVE + "block_tables.py", "return -(-num_tokens // self.block_size)",
      "return num_tokens // self.block_size", "serve-engine", "blocks counted with floor instead of ceil"),
    M("prefix-hit-whole-prompt", SERVE + "block_tables.py", "(req.num_tokens - 1) // self.block_size",
      "req.num_tokens // self.block_size", "serve-engine",
      "a fully cached prompt leaves no token to compute (no logits to sample from)"),
    M("idle-hits-free", SERVE + "block_tables.py", "if fresh + idle_hits > alloc.num_free:",
      "if fresh > alloc.num_free:", "serve-blocks", "reviving a cached block is taken to cost nothing"),
    M("commit-skips-last", SERVE + "block_tables.py", "for i in range(req.num_committed, full):",
      "for i in range(req.num_committed, full - 1):", "serve-blocks", "the last full block is never cached"),
    M("free-forward-order", SERVE + "block_tables.py", "for b in reversed(req.block_ids):",
      "for b in req.block_ids:", "serve-blocks", "a request's shared prefix is evicted before its own tail"),
    M("hash-chain-broken", SERVE + "block_tables.py", "prefix_hash(hashes[-1] if hashes else b\"\",",
      "prefix_hash(b\"\",", "serve-blocks", "each block hashed without the chain"),
    M("preempt-oldest", SERVE + "scheduler.py", "victim = self.running.pop()", "victim = self.running.pop(0)",
      "serve-blocks", "the oldest request is preempted instead of the newest"),
    M("admit-after-preempt", SERVE + "scheduler.py", "while not preempted and self.waiting",
      "while self.waiting", "serve-blocks", "requests admitted in a step that just preempted (thrashing)"),
    M("max-seqs-off-by-one", SERVE + "scheduler.py", "len(self.running) < self.max_num_seqs",
      "len(self.running) <= self.max_num_seqs", "serve-blocks", "one sequence more than max_num_seqs"),
    M("budget-ignored", SERVE + "scheduler.py", "n = min(len(req.token_ids) - req.num_computed, budget)",
      "n = len(req.token_ids) - req.num_computed", "serve-blocks",
      "a running prefill chunk ignores the step's token budget"),
    M("preempted-to-back", SERVE + "scheduler.py", "self.waiting.appendleft(req)", "self.waiting.append(req)",
      "serve-blocks", "a preempted request goes behind every waiting one"),
    M("self-preempt-continues", SERVE + "scheduler.py", "                if victim is req:\n                    break\n",
      "", "serve-engine", "a request that preempted itself keeps going"),
    M("slot-no-block-size", SERVE + "model_runner.py",
      "return req.block_ids[p // self.block_size] * self.block_size + p % self.block_size",
      "return req.block_ids[p // self.block_size] + p % self.block_size", "serve-engine",
      "slot = block + offset instead of block * block_size + offset"),
    M("slots-ignore-offset", SERVE + "model_runner.py", "take = min(bs - offset, end - p)", "take = min(bs, end - p)",
      "serve-engine", "a run of slots crosses a block boundary when it starts mid-block"),
    M("decode-len-off-by-one", SERVE + "model_runner.py", "lens = [req.num_computed + 1 for req, _ in decode]",
      "lens = [req.num_computed for req, _ in decode]", "serve-engine", "a decoding token does not see itself"),
    M("graph-len-off-by-one", SERVE + "model_runner.py", "self._slot(req, p), p + 1)", "self._slot(req, p), p)",
      "serve-engine", "graph-layout rows do not see their own position"),
    M("ctx-slots-short", SERVE + "model_runner.py", "context_slots.extend(self._slots(req, 0, cached + n))",
      "context_slots.extend(self._slots(req, 0, cached + n - 1) + [0])", "serve-engine",
      "a continued chunk reads the null block for its last key"),
    M("rows-mask-le", SERVE + "paged_attention.py", "(keys < self.context_lens.view(s, qpt, 1))",
      "(keys <= self.context_lens.view(s, qpt, 1))", "serve-engine", "a row also sees the position after its own"),
    M("segment-mask-strict", SERVE + "paged_attention.py", "keys[None, :] <= queries[:, None]",
      "keys[None, :] < queries[:, None]", "serve-engine", "a continued chunk's token cannot see itself"),
]

MUTANTS: list[Mutant] = NUMPY_LAYERS + TOKENIZER + GENERATION + LORA + RAG + SERVING
