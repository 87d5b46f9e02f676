"""The learn projects and their exercises (data only; see catalog.py for what each field means)."""

from __future__ import annotations

from llmlab.learn.catalog import Exercise, LearnProject

G = "llmlab.learn.graders"
NT = "llmlab.numpy_transformer"

TRANSFORMER = LearnProject(
    key="transformer", roadmap_key="transformer", title="Transformer from scratch", doc="docs/transformer.md",
    exercises=(
        Exercise("softmax", "softmax and its backward",
                 "the stable row softmax and its Jacobian-vector product, in place", 1, "softmax.py",
                 ("softmax_", "softmax_backward_"),
                 (f"{NT}.activations:softmax_", f"{NT}.activations:softmax_backward_"),
                 f"{G}.transformer:grade_softmax",
                 ("Forward: three in-place steps on z — subtract the row max, exponentiate, divide by the "
                  "row sum.",
                  "Backward: the row sum s = Σ_j dp_j p_j is one number per row; keep it as (..., 1) to "
                  "broadcast.",
                  "dp -= (dp * p).sum(axis=-1, keepdims=True); dp *= p; return dp")),
        Exercise("layernorm", "LayerNorm forward and backward",
                 "normalising features, and the backward of a mean and a variance", 2, "layernorm.py",
                 ("LayerNorm",), (f"{NT}.layernorm:LayerNorm",), f"{G}.transformer:grade_layernorm",
                 ("Flatten to rows (N, C) with x.reshape(-1, C); reductions go over axis=-1 with "
                  "keepdims=True.",
                  "Save x̂ and r = 1/√(σ² + ε) in forward; backward needs nothing else (and weight).",
                  "g = dy2 * weight; dx = r * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, "
                  "keepdims=True));"
                  " self.grads['weight'][...] = (dy2 * xhat).sum(0); self.grads['bias'][...] = dy2.sum(0)")),
        Exercise("gelu", "GELU (tanh form) forward and backward",
                 "GPT-2's activation and the product and chain rules through tanh", 1, "gelu.py",
                 ("GELU",), (f"{NT}.activations:GELU",), f"{G}.transformer:grade_gelu",
                 ("Write t = tanh(K (x + A x³)) once in forward and keep it: the backward reuses it.",
                  "d/dx of x (1 + t) is (1 + t) + x t', and t' = (1 - t²) K (1 + 3 A x²).",
                  "return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * A * x * x))")),
        Exercise("attention", "causal multi-head self-attention forward and backward",
                 "the causal mask, the 1/√d scale, splitting and merging heads, and attention's backward", 3,
                 "attention.py", ("causal_mask", "CausalSelfAttention"),
                 (f"{NT}.masks:causal_mask", f"{NT}.attention:CausalSelfAttention"),
                 f"{G}.transformer:grade_attention",
                 ("causal_mask is one comparison of np.arange(t_k)[None, :] with np.arange(t_q)[:, None] + "
                  "offset.",
                  "forward: qkv = c_attn.forward(x); q, k, v = split_heads(qkv, nh); att = q @ "
                  "k.swapaxes(-1, -2) * "
                  "scale + bias; softmax; y = att @ v; merge with y.transpose(0, 2, 1, 3).reshape(B, T, C).",
                  "backward: dy = c_proj.backward(dout) reshaped to (B, nh, T, hs); dv = attᵀ dy; datt = dy "
                  "vᵀ; "
                  "softmax_backward_(datt, att); datt *= scale; dq = datt k; dk = dattᵀ q; "
                  "return c_attn.backward(dqkv)")),
        Exercise("cross_entropy", "cross-entropy with its gradient",
                 "log-sum-exp, ignored targets, and why the gradient is softmax minus one-hot", 1,
                 "cross_entropy.py", ("CrossEntropy",), (f"{NT}.loss:CrossEntropy",),
                 f"{G}.transformer:grade_cross_entropy",
                 ("valid = targets != self.ignore_index; n = valid.sum(); the mean is over valid rows only.",
                  "log Σ exp(z) = m + log Σ exp(z - m); pick z[rows, targets] with fancy indexing.",
                  "grad = softmax(z); grad[rows, safe_targets] -= 1; grad /= n; grad[~valid] = 0; return "
                  "grad * dloss")),
        Exercise("adamw", "AdamW step",
                 "Adam's moments, bias correction, and weight decay applied to the weights, not the gradient",
                 2,
                 "adamw.py", ("AdamW",), (f"{NT}.optim:AdamW",), f"{G}.transformer:grade_adamw",
                 ("Increment self.t first: the bias corrections use the new t (1 - β₁¹ on the first step).",
                  "Decoupled decay: multiply p by (1 - lr λ) before the Adam update, and only where "
                  "self.decays[i].",
                  "m[...] = b1 * m + (1 - b1) * g; v[...] = b2 * v + (1 - b2) * g * g; "
                  "p -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)")),
        Exercise("kv_cache", "one KV-cache decode step",
                 "why decoding with a cache gives the same logits as re-reading the whole sequence", 2,
                 "kv_cache.py", ("KVCache",), (f"{NT}.kv_cache:KVCache",), f"{G}.transformer:grade_kv_cache",
                 ("The new rows go at positions self.length .. self.length + T on axis 2 of self.k[layer].",
                  "Return views (slices) of self.k[layer] and self.v[layer] up to the end of what was just "
                  "written.",
                  "end = self.length + k.shape[2]; self.k[layer, :, :, self.length:end] = k (same for v); "
                  "return self.k[layer, :, :, :end], self.v[layer, :, :, :end]")),
    ))

TK = "llmlab.tokenizer"

TOKENIZER = LearnProject(
    key="tokenizer", roadmap_key="tokenizer", title="BPE Tokenizer", doc="docs/tokenizer.md", aliases=("bpe",
                                                                                                       ),
    exercises=(
        Exercise("pairs", "pair counting", "what BPE counts: adjacent pairs weighted by chunk frequency", 1,
                 "pairs.py", ("count_pairs",), (f"{TK}.merges:count_pairs",), f"{G}.tokenizer:grade_pairs",
                 ("Walk each word with itertools.pairwise and add its frequency, not 1.",
                  "Overlaps count: [97, 97, 97] holds (97, 97) twice.",
                  "for word, freq in zip(words, freqs): for pair in pairwise(word): counts[pair] += freq")),
        Exercise("merge", "merging a pair",
                 "replacing a pair left to right, and why 'aaa' becomes 'aa' + 'a'", 1,
                 "merge.py", ("merge_word",), (f"{TK}.merges:merge_word",), f"{G}.tokenizer:grade_merge",
                 ("Scan with an index i, not a for loop: a merge consumes two ids.",
                  "At i, if word[i], word[i+1] is the pair, append new and jump by 2; else append word[i], "
                  "step 1.",
                  "while i < n: if i + 1 < n and word[i] == a and word[i + 1] == b: out.append(new); i += 2 "
                  "else: out.append(word[i]); i += 1")),
        Exercise("train", "training with HF's tie rule",
                 "the BPE training loop, incremental pair counts, and breaking ties as HF tokenizers does", 3,
                 "train.py", ("learn_merges",), (f"{TK}.merges:learn_merges",), f"{G}.tokenizer:grade_train",
                 ("Start naive: recount pairs, pick min(counts, key=lambda p: (-counts[p], order[p[0]], "
                  "order[p[1]])), "
                  "merge it in every word, repeat — then make it incremental.",
                  "order = tie_order(256) and _add_token appends to it; index = {bytes: id} of "
                  "learned.vocab.",
                  "Incremental: a heap of (-count, order[a], order[b], a, b); when popped, skip entries "
                  "whose count "
                  "changed; on merge, update only the pairs next to each merged occurrence (see the file's "
                  "header).")),
        Exercise("encode", "encoding with merge ranks", "why encoding merges the lowest-ranked pair first", 2,
                 "encode.py", ("encode_chunk",), (f"{TK}.bpe:BPETokenizer._encode_chunk",),
                 f"{G}.tokenizer:grade_encode",
                 ("ids = list(data); loop: find the adjacent pair with the smallest self._rank.get(pair, "
                  "NO_MERGE).",
                  "Stop when the best rank is NO_MERGE; else replace that pair by self.merges[rank][2].",
                  "ranks = [get(p, NO_MERGE) for p in pairwise(ids)]; best = min(ranks); i = "
                  "ranks.index(best); "
                  "ids[i:i + 2] = [self.merges[best][2]]; then recompute the ranks (or just the two "
                  "neighbours)")),
        Exercise("decode", "decoding bytes",
                 "tokens are bytes, not characters; specials decode to their text", 1,
                 "decode.py", ("decode_bytes",), (f"{TK}.bpe:BPETokenizer.decode_bytes",),
                 f"{G}.tokenizer:grade_decode",
                 ("Join bytes, never str: b''.join(...).",
                  "Ids past the learned vocabulary are special tokens: self.token_bytes(i) knows them.",
                  "return b''.join(self.vocab[i] if 0 <= i < len(self.vocab) else self.token_bytes(i) for i "
                  "in ids)")),
        Exercise("pretokenize", "regex pre-tokenisation",
                 "the split BPE never merges across (GPT-2's and GPT-4's)",
                 1, "pretokenize.py", ("count_chunks",), (f"{TK}.pretokenize:count_chunks",),
                 f"{G}.tokenizer:grade_pretokenize",
                 ("resolve_pattern(pattern)[1] is the regex; compile it with the `regex` module (\\p{L} "
                  "needs it).",
                  "Split each text on its own with findall and update one Counter.",
                  "split = compiled(resolve_pattern(pattern)[1]).findall; for text in texts_of(source): "
                  "counts.update(split(text)); on_text and on_text(text)")),
        Exercise("specials", "special tokens kept whole", "why special tokens are cut out before the regex, "
                 "and why a user's text must not become one", 2, "specials.py", ("encode",),
                 (f"{TK}.bpe:BPETokenizer.encode",), f"{G}.tokenizer:grade_specials",
                 ("First decide the allowed and the disallowed sets; refuse a disallowed match before "
                  "encoding.",
                  "Walk self._special_regex.finditer(text): plain text between matches goes to "
                  "encode_ordinary.",
                  "for m in finditer: if m.group() in allowed: out += "
                  "encode_ordinary(text[start:m.start()]); "
                  "out.append(self._special[m.group()]); start = m.end(); finally the rest after the last "
                  "one")),
    ))

CL = "llmlab.charlm"
GEN = "llmlab.generation"

CHARLM = LearnProject(
    key="charlm", roadmap_key="charlm", title="Char-level LM", doc="docs/charlm.md",
    exercises=(
        Exercise("rnn_cell", "an RNN cell",
                 "what a recurrent layer computes at each step: one tanh of two matmuls", 1,
                 "rnn_cell.py", ("rnn_cell",), (f"{CL}.cells:rnn_cell",), f"{G}.charlm:grade_rnn_cell",
                 ("Two matrix products with the transposed weights: x @ weight_ih.T and h @ weight_hh.T.",
                  "Add both biases only when bias_ih is not None, then squash with torch.tanh.",
                  "z = x @ weight_ih.T + h @ weight_hh.T; if bias_ih is not None: z = z + bias_ih + bias_hh; "
                  "return torch.tanh(z)")),
        Exercise("lstm_cell", "an LSTM cell", "the four gates, torch's gate order, and why the cell state "
                 "carries memory", 2, "lstm_cell.py", ("lstm_cell",), (f"{CL}.cells:lstm_cell",),
                 f"{G}.charlm:grade_lstm_cell",
                 ("All four gates come from ONE pre-activation z of width 4H; the rows are i, f, g, o in "
                  "that order.",
                  "z.chunk(4, dim=-1) splits it; i, f, o go through sigmoid, g through tanh.",
                  "i, f, g, o = z.chunk(4, dim=-1); c = sigmoid(f) * c + sigmoid(i) * tanh(g); "
                  "return sigmoid(o) * tanh(c), c")),
        Exercise("temperature", "temperature",
                 "dividing logits by T: sharper below 1, flatter above, greedy at 0",
                 1, "temperature.py", ("apply_temperature",), (f"{GEN}.processors:apply_temperature",),
                 f"{G}.charlm:grade_temperature",
                 ("Divide, do not multiply: T = 0.5 must make the largest logit stand out more.",
                  "t = _column(temperature, logits) is (B, 1); rows with t == 0 must not be divided.",
                  "t = _column(temperature, logits).to(logits.dtype); "
                  "return logits / torch.where(t > 0, t, torch.ones_like(t))")),
        Exercise("top_k", "top-k", "keeping the k most likely tokens, ties at the k-th value included", 1,
                 "top_k.py", ("top_k_filter",), (f"{GEN}.processors:top_k_filter",),
                 f"{G}.charlm:grade_top_k",
                 ("Find each row's k-th largest logit; everything strictly below it goes to -inf.",
                  "Sort descending and .gather the entry at index k - 1 per row; compare with <, not <=.",
                  "kth = torch.sort(logits, dim=-1, descending=True).values.gather(-1, k_col - 1); "
                  "return logits.masked_fill((logits < kth) & (k_col > 0), float('-inf'))  (clamp k to [0, "
                  "V])")),
        Exercise("top_p", "top-p (nucleus)",
                 "keeping the smallest set of tokens that holds p of the probability, "
                 "the token that crosses p included", 2, "top_p.py", ("top_p_filter",),
                 (f"{GEN}.processors:top_p_filter",), f"{G}.charlm:grade_top_p",
                 ("Work on the row sorted ascending: the tail you drop is the start of the cumulative sum.",
                  "Drop where cumsum(softmax(sorted)) <= 1 - p, but never the last (most likely) sorted "
                  "token.",
                  "s, idx = torch.sort(logits, dim=-1); remove = s.softmax(-1).cumsum(-1) <= 1 - p_col; "
                  "remove[..., -1] = False; return logits.masked_fill(remove.scatter(-1, idx, remove), "
                  "float('-inf'))")),
        Exercise("beam", "beam search with a length penalty",
                 "keeping N hypotheses, finishing them, and normalising scores by length", 3, "beam.py",
                 ("beam_search",), (f"{GEN}.beam:beam_search",), f"{G}.charlm:grade_beam",
                 ("Start without EOS: N beams, scores [0, NEG, ...]; each step topk over (N·V) of log-prob "
                  "totals, "
                  "parent = index // V, token = index % V; reorder the stepper to the parents.",
                  "A finished hypothesis scores sum_logprob / new_length ** length_penalty (divide; the "
                  "prompt "
                  "does not count). Keep 2N candidates so N can continue when some end.",
                  "Keep a finished set of N (sequence, score); merge each step's ending top-N candidates "
                  "into it "
                  "with topk; stop when it is full and best_running / cur_len ** lp cannot beat its worst.")),
        Exercise("train_step", "a training step with clipping and warmup + cosine",
                 "the learning-rate schedule, clipping by the global gradient norm, and the order of a step",
                 2,
                 "train_step.py", ("lr_at", "clip_grad_norm_", "train_step"),
                 ("llmlab.training.schedule:lr_at", f"{CL}.train_step:clip_grad_norm_",
                  f"{CL}.train_step:train_step"),
                 f"{G}.charlm:grade_train_step",
                 ("Warmup never uses lr 0: step 0 gets lr / (warmup + 1). Clipping uses ONE factor for all "
                  "gradients.",
                  "r = (step - warmup) / (decay - warmup); cosine weight (1 + cos(pi r)) / 2; "
                  "‖g‖ = sqrt of the sum of every gradient's squared norm.",
                  "grads = [p.grad for p in parameters if p.grad is not None]; total = norm of their norms; "
                  "coef = min(1, max_norm / (total + 1e-6)); g.mul_(coef) for each; "
                  "step: set lr, loss.backward(), clip, optimizer.step(), optimizer.zero_grad()")),
    ))

FT = "llmlab.finetune"

FINETUNE = LearnProject(
    key="finetune", roadmap_key="finetune", title="Fine-tune GPT-2", doc="docs/finetune.md", aliases=("lora",
                                                                                                      ),
    exercises=(
        Exercise("lora", "a LoRA layer: init, forward, merge and unmerge",
                 "the low-rank update (alpha / r) B A, why B starts at zero, and folding it into GPT-2's "
                 "transposed Conv1D weight", 2, "lora.py", ("LoRALinear",), (f"{FT}.lora:LoRALinear",),
                 f"{G}.finetune:grade_lora",
                 ("Freeze the base first (requires_grad_(False) on base.parameters()); A is (r, in), B is "
                  "(out, r), "
                  "both in base.weight's dtype; scaling is alpha / r, not alpha.",
                  "forward: base(x) + F.linear(F.linear(dropout(x), A), B) * scaling; delta_weight is "
                  "scaling · B @ A (out, in), transposed when fan_in_fan_out (Conv1D stores (in, out)).",
                  "merge: with torch.no_grad(): if not self.merged: self.base.weight += self.delta_weight(); "
                  "self.merged = True — and forward returns self.base(x) alone while merged")),
        Exercise("trainable", "counting trainable parameters",
                 "what LoRA saves, and why a tied embedding counts once", 1, "trainable.py",
                 ("trainable_parameters",), (f"{FT}.lora:trainable_parameters",),
                 f"{G}.finetune:grade_trainable",
                 ("model.parameters() yields each parameter object once; a per-module walk sees the tied "
                  "head twice.",
                  "total = Σ p.numel() over them; trainable = the same over those with p.requires_grad.",
                  "params = list(model.parameters()); total = sum(p.numel() for p in params); trainable = "
                  "sum("
                  "p.numel() for p in params if p.requires_grad); share round(trainable / total, 6) if total "
                  "else 0.0")),
    ))

CH = "llmlab.chat"

CHAT = LearnProject(
    key="chat", roadmap_key="chat", title="Chatbot UI", doc="docs/chat.md", aliases=("chatbot",),
    exercises=(
        Exercise("quantize", "int8 quantise / dequantise, one scale per output channel",
                 "symmetric per-channel int8, round half to even, and the half-step error bound", 1,
                 "quantize.py",
                 ("quantize_weight", "dequantize_weight"),
                 (f"{CH}.quantize:quantize_weight", f"{CH}.quantize:dequantize_weight"),
                 f"{G}.chat:grade_quantize",
                 ("One scale per ROW: w.abs().amax(dim=1) / 127, shape (out,); a zero row gets scale 1.",
                  "q = torch.clamp(torch.round(w / s[:, None]), -127, 127).to(torch.int8) — round, not "
                  "floor.",
                  "w = weight.detach().float(); s = w.abs().amax(dim=1) / QMAX; s = torch.where(s > 0, s, "
                  "torch.ones_like(s)); dequantize: q.to(dtype) * scale.to(dtype)[:, None]")),
        Exercise("context", "the context-window planner",
                 "fitting a chat into the window: system prompt and newest message always, oldest whole "
                 "exchanges "
                 "out first, exact token counts", 2, "context.py", ("exchanges", "fit_context"),
                 (f"{CH}.context:exchanges", f"{CH}.context:fit_context"), f"{G}.chat:grade_context",
                 ("Write build(n_drop, n_memory) -> messages and count(...) = "
                  "llm.count_chat_tokens(build(...)): "
                  "every decision uses that one exact count.",
                  "Try everything; else check system + newest alone (ContextWindowError if over); else drop "
                  "the "
                  "fewest oldest exchanges with all memory; if even none fits with all memory, keep "
                  "memory[:k].",
                  "groups = exchanges(history); kept = [m for g in groups[n:] for m in g]; messages = "
                  "system_message(system, memory[:k]) + kept + [{'role': 'user', 'content': user}]; "
                  "find the least n (then the largest k) whose count <= budget")),
    ))

AT = "llmlab.attention"

ATTENTION = LearnProject(
    key="attention", roadmap_key="attention", title="Attention Visualization", doc="docs/attention.md",
    exercises=(
        Exercise("capture", "attention probabilities with forward hooks",
                 "forward hooks, why fused attention kernels hide P, and leaving a model as you found it", 2,
                 "capture.py", ("capture_attention",), (f"{AT}.hooks:capture_attention",),
                 f"{G}.attention:grade_capture",
                 ("One hook per module in attention_modules(model); the hook's `output` is (attn_output, P).",
                  "Save output[1].detach() into a list slot per layer; switch to eager first (sdpa gives "
                  "None), "
                  "and remove the handles and restore the implementation in a finally: block.",
                  "handles = [m.register_forward_hook(hook_for(i)) for i, m in enumerate(modules)]; "
                  "try: model(input_ids=..., use_cache=False) finally: h.remove() for each; "
                  "return np.stack([p.float().cpu().numpy() for p in seen])"),
                 # importing transformers' model classes alone takes 15-20 s on a busy 2-core machine
                 time_limit=120.0),
        Exercise("head_metrics", "per-head metrics",
                 "entropy in nats, how far back a head reads, sinks, previous-token and self heads", 2,
                 "head_metrics.py", ("head_metrics",), (f"{AT}.metrics:head_metrics",),
                 f"{G}.attention:grade_head_metrics",
                 ("Drop query 0: a = probs[..., 1:, :] is (L, B, H, T-1, T); every metric is per query, then "
                  ".mean(axis=(1, 3)).",
                  "Entropy with np.log (nats), and 0 ln 0 = 0: np.where(a > 0, a * np.log(np.where(a > 0, a, "
                  "1)), 0). "
                  "Query i (i = 1..T-1) sits at row i - 1 of a.",
                  "q = np.arange(1, t); rows = np.arange(t - 1); previous_token = a[..., rows, q - 1]; "
                  "self = a[..., rows, q]; sink = a[..., 0]; distance = (a * (q[:, None] - np.arange(t))"
                  ".clip(0)).sum(-1); entropy_norm = entropy / np.log(q + 1)")),
        Exercise("induction", "the induction test",
                 "induction heads: in a repeated sequence, reading the token after the earlier copy", 1,
                 "induction.py", ("repetition_scores",), (f"{AT}.metrics:repetition_scores",),
                 f"{G}.attention:grade_induction",
                 ("Only the second copy's queries count: prefix + period up to prefix + 2·period - 1.",
                  "Induction reads one key per query, period - 1 back; duplicate reads period back.",
                  "queries = np.arange(prefix + period, prefix + 2 * period); "
                  "probs[..., queries, queries - period + 1].mean(axis=(1, 3))")),
    ))

RG = "llmlab.rag"

RAG = LearnProject(
    key="rag", roadmap_key="rag", title="RAG System", doc="docs/rag.md",
    exercises=(
        Exercise("chunking", "chunking with overlap",
                 "exact-slice chunks, cuts at paragraph and sentence boundaries, and an overlap counted in "
                 "units", 2,
                 "chunking.py", ("chunk_text", "_overlap_start"),
                 (f"{RG}.chunking:chunk_text", f"{RG}.chunking:_overlap_start"), f"{G}.rag:grade_chunking",
                 ("b = unit_starts(text, cfg.unit, tokenizer); work in unit indices i, j and slice "
                  "text[b[i]:b[j]].",
                  "The cut: max(range(lo, j + 1), key=lambda q: (boundary_strength(text, b[q]), q)); the "
                  "overlap: "
                  "k = max(i + 1, j - overlap), then the first word start within overlap // 4 units.",
                  "while True: j = min(i + size, n); if j < n: j = best cut; "
                  "chunks.append(Chunk(f'{doc}:{b[i]}-{b[j]}', "
                  "doc, b[i], b[j], text[b[i]:b[j]], j - i)); if j >= n: return chunks; "
                  "i = _overlap_start(text, b, i, j, cfg.overlap)"),
                 time_limit=90.0),    # loading the embedding model's tokenizer is most of it
        Exercise("bm25", "BM25 scoring",
                 "term frequency saturation, length normalisation, and rank_bm25's idf", 2,
                 "bm25.py", ("BM25",), ("llmlab.search.bm25:BM25",), f"{G}.rag:grade_bm25",
                 ("n_t = len(rows) of each posting; N = len(doc_len); compute idf once per term in __init__.",
                  "idf = np.log(N - n_t + 0.5) - np.log(n_t + 0.5); floor = epsilon * mean(idf); negative "
                  "idf -> floor. "
                  "scores: only the rows in a term's postings change.",
                  "out = np.zeros(N); for term in words: rows, f = self.postings[term]; "
                  "out[rows] += self.idf[term] * f * (k1 + 1) / (f + self._norm[rows])")),
        Exercise("fusion", "reciprocal rank fusion",
                 "merging rankings whose scores share no scale, by rank alone", 1, "fusion.py",
                 ("reciprocal_rank_fusion",), (f"{RG}.fusion:reciprocal_rank_fusion",),
                 f"{G}.rag:grade_fusion",
                 ("A dict item -> score; walk each list with enumerate(ranking, start=1).",
                  "Skip items < 0 (padding); add w / (k + rank); sort by score, descending, with a stable "
                  "sort.",
                  "fused[item] = fused.get(item, 0.0) + w / (k + rank); return sorted(fused.items(), "
                  "key=lambda kv: -kv[1])")),
        Exercise("metrics", "recall@k and MRR",
                 "what recall@k and the reciprocal rank measure, and their edge cases", 1,
                 "metrics.py", ("recall_at_k", "reciprocal_rank"),
                 (f"{RG}.metrics:recall_at_k", f"{RG}.metrics:reciprocal_rank"), f"{G}.rag:grade_metrics",
                 ("Sets: the top k is set(ranked[:k]).",
                  "recall divides by len(relevant); the reciprocal rank uses enumerate(ranked, start=1).",
                  "len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0; "
                  "next((1.0 / i for i, d in enumerate(ranked, start=1) if d in relevant), 0.0)")),
    ))

DA = "llmlab.data"

PRETRAIN = LearnProject(
    key="pretrain", roadmap_key="pretrain", title="Train 125M model", doc="docs/pretrain.md",
    exercises=(
        Exercise("minhash", "MinHash signatures", "why the share of equal minimums estimates Jaccard, with "
                 "datasketch's hash permutations in uint32", 2, "minhash.py", ("minhash_signature",),
                 (f"{DA}.dedup:minhash_signature",), f"{G}.pretrain:grade_minhash",
                 ("S = shingle_hashes(text, ngram); one row of S against all num_perm permutations at once.",
                  "Premix f(h) in np.uint32 (the multiplications wrap mod 2^32), then (a · f(h) + b), min "
                  "over S.",
                  "a, b = MinHash(num_perm=num_perm, seed=1, scheme='affine32').permutations; "
                  "h = f(S.astype(np.uint32))[:, None]; return (a[None] * h + b[None]).min(axis=0)")),
        Exercise("near_dedup", "near duplicates with LSH",
                 "LSH banding: candidates from equal bands, confirmed "
                 "by the signature's Jaccard, the first of a group kept", 2, "near_dedup.py", ("near_dedup",),
                 (f"{DA}.dedup:near_dedup",), f"{G}.pretrain:grade_near_dedup",
                 ("Signatures first (map_fn), then one pass in corpus order; only kept documents go into the "
                  "index.",
                  "Candidates share a band; each is CONFIRMED by mean(sig == other) >= threshold (a band can "
                  "collide "
                  "by chance). Take the best candidate, the first kept on a tie.",
                  "lsh = MinHashLSH(threshold=threshold, num_perm=num_perm); for each doc: best = max over "
                  "lsh.query(sig) of (estimate, key); if best >= threshold: report.add(...) else "
                  "lsh.insert(key, sig)")),
        Exercise("shards", "a token-shard writer and reader", "a self-describing binary format: magic, "
                 "header length, JSON, alignment, memmaps, atomic writes", 1, "shards.py",
                 ("token_dtype", "write_shard", "read_header", "open_shard"),
                 (f"{DA}.shards:token_dtype", f"{DA}.shards:write_shard", f"{DA}.shards:read_header",
                  f"{DA}.shards:open_shard"), f"{G}.pretrain:grade_shards",
                 ("uint16 holds ids 0..65535, so a vocabulary of 65,536 still fits; the header says the "
                  "dtype.",
                  "pad = (-(len(MAGIC) + 4 + len(body))) % ALIGN spaces after the JSON; struct.pack('<I', "
                  "len(body)).",
                  "reader: magic = f.read(8); (size,) = struct.unpack('<I', f.read(4)); "
                  "json.loads(f.read(size)); "
                  "np.memmap(path, dtype=..., mode='r', offset=8 + 4 + size, shape=(n_tokens,))")),
        Exercise("schedule", "warmup + cosine", "the learning-rate schedule of every loop in llmlab: linear "
                 "warmup, cosine (or linear) decay to min_lr, then flat", 1, "schedule.py",
                 ("warmup_then_decay",),
                 ("llmlab.lr_schedule:warmup_then_decay",), f"{G}.pretrain:grade_schedule",
                 ("Three cases in order: done < warmup, done >= total, in between; 'constant' skips the "
                  "decay.",
                  "r = (done - warmup) / (total - warmup) is 0 at the end of the warmup and 1 at total.",
                  "weight = 0.5 * (1 + math.cos(math.pi * r)) (or 1 - r); return min_lr + weight * (lr - "
                  "min_lr)")),
        Exercise("resume", "an exactly resumable sampler",
                 "a data position that is one counter, so a resumed run "
                 "sees the batches it would have seen", 2, "resume.py", ("TokenWindows",),
                 ("llmlab.training.batches:TokenWindows",), f"{G}.pretrain:grade_resume",
                 ("No running RNG: every optimizer step makes its own generator from (seed, 0, step).",
                  "step, micro = divmod(self.cursor, self.grad_accum); draw once per step; part = micro * "
                  "world_size + rank; the state is just the cursor (and the seed, block and batch sizes).",
                  "if step != self._offsets_step: self._offsets = self._starts_for(0, step, batch_size * "
                  "grad_accum "
                  "* world_size); self.cursor += 1; return self._gather(self._offsets[part * B:(part + 1) * "
                  "B])")),
    ))

SV = "llmlab.serve"

SERVE = LearnProject(
    key="serve", roadmap_key="serve", title="Model Serving", doc="docs/serve.md", aliases=("serving",),
    exercises=(
        Exercise("allocator", "the KV block allocator",
                 "a free list, reference counts, shared and cached blocks, "
                 "and least-recently-used eviction", 2, "allocator.py", ("BlockAllocator",),
                 (f"{SV}.block_allocator:BlockAllocator",), f"{G}.serve:grade_allocator",
                 ("Three states: free (on self.free), in use (refs > 0), cached (refs 0, named, in "
                  "self.evictable).",
                  "release: refs must be > 0 (else RuntimeError); at 0, a named block goes to the END of "
                  "evictable, "
                  "an anonymous one to the free list. allocate: free first, then evict popitem(last=False).",
                  "take: if refs[b] == 0: del self.evictable[b]; refs[b] += 1. register: return if caching "
                  "is off, "
                  "h in by_hash or hash_of[b] is not None; else by_hash[h] = b; hash_of[b] = h")),
        Exercise("prefix_hash", "the prefix hash chain",
                 "naming a KV block by its whole prefix, so a cache hit "
                 "is only ever the same tokens after the same tokens", 1, "prefix_hash.py", ("prefix_hash",),
                 (f"{SV}.block_allocator:prefix_hash",), f"{G}.serve:grade_prefix_hash",
                 ("The data hashed is the parent's 16 bytes, then the ids, 8 bytes each (ids go past 255).",
                  "array('q', tokens).tobytes() packs the ids; hashlib.blake2b(..., digest_size=16).",
                  "return hashlib.blake2b(parent + array('q', tokens).tobytes(), digest_size=16).digest()")),
        Exercise("scheduler", "one continuous-batching step",
                 "one token budget for prefill and decode, chunked "
                 "prefill, admission from the prefix cache, and preemption", 3, "scheduler.py", ("Scheduler",
                                                                                                 ),
                 (f"{SV}.scheduler:Scheduler",), f"{G}.serve:grade_scheduler",
                 ("Two loops: running requests first (decode 1 token or the next prompt chunk), then "
                  "admissions.",
                  "Every scheduled n comes out of one budget; a running request that needs a block it cannot "
                  "get "
                  "preempts the newest running request (running.pop()), maybe itself.",
                  "admit: hits = tables.cached_prefix(req); n = min(req.num_tokens - len(hits) * bs, "
                  "budget); "
                  "if not tables.allocate(req, n, hits): break; count_hits; waiting.popleft(); status "
                  "RUNNING")),
        Exercise("sse", "a server-sent event",
                 "how an OpenAI-style API streams: one line of JSON per event, a "
                 "blank line after each", 1, "sse.py", ("sse_event",), (f"{SV}.api:_sse",),
                 f"{G}.serve:grade_sse",
                 ("'data: ' + JSON + a blank line; the JSON must stay on one line.",
                  "json.dumps writes a newline inside a string as \\n, so one dumps call is one line.",
                  "return f\"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\\n\\n\"")),
    ))

PROJECTS: list[LearnProject] = [TRANSFORMER, TOKENIZER, CHARLM, FINETUNE, CHAT, ATTENTION, RAG, PRETRAIN,
                                SERVE]

AG = "llmlab.agents"
EX = "llmlab.experiments"

AGENTS = LearnProject(
    key="agents", roadmap_key="agents", title="LLM Agents", doc="docs/agents.md", aliases=("react",),
    exercises=(
        Exercise("parser", "the ReAct output parser",
                 "reading a tool call or a final answer from a small model's loose text, and never its own "
                 "Observation", 2, "parser.py", ("parse_step", "_tool_call"),
                 (f"{AG}.parser:parse_step", f"{AG}.parser:_tool_call"), f"{G}.agents:grade_parser",
                 ("Cut first (OBSERVATION.search), then look for both ACTION and FINAL: the earlier one "
                  "wins.",
                  "_tool_call: CALL.match(rest) gives name, opener, body; '[' and '(' end at "
                  "body.rindex(closer), "
                  "no opener and no body means the input is on an 'Action Input:' line.",
                  "if action and (not final or action.start() < final.start()): return _tool_call(text, "
                  "action); "
                  "a FinalAnswer needs a non-empty _strip_code(final.group('rest').strip())")),
        Exercise("calculator", "the safe calculator",
                 "why a tool never calls eval, walking an ast, and bounding a power before computing it", 2,
                 "calculator.py", ("evaluate", "_eval", "_check_power", "_check_digits"),
                 (f"{AG}.calculator:evaluate", f"{AG}.calculator:_eval", f"{AG}.calculator:_check_power",
                  f"{AG}.calculator:_check_digits"), f"{G}.agents:grade_calculator",
                 ("ast.parse(text, mode='eval').body is the top node; handle Constant, UnaryOp, BinOp, Name, "
                  "Call, "
                  "and refuse every other node type.",
                  "Check depth first in _eval. Bound before the work: _check_power before the power, "
                  "_check_digits before round(x, n); exponent · log2|base| is the result's bit count.",
                  "if isinstance(node, ast.BinOp) and type(node.op) in _BINARY: left, right = ...; "
                  "if isinstance(node.op, ast.Pow | ast.BitXor): _check_power(left, right); "
                  "return _check_size(_BINARY[type(node.op)](left, right))"), time_limit=60.0),
    ))

COT = LearnProject(
    key="cot", roadmap_key="cot", title="Chain-of-Thought Prompting", doc="docs/cot.md",
    exercises=(
        Exercise("extract", "answer extraction",
                 "which number of a chain of thought is its answer, and one canonical form to compare "
                 "answers", 1,
                 "extract.py", ("normalize_number", "extract_number"),
                 (f"{EX}.extract:normalize_number", f"{EX}.extract:extract_number"), f"{G}.cot:grade_extract",
                 ("Replace the unicode minus first; findall gives every match, so [-1] is the last one.",
                  "normalize: remove ',' then format(Decimal(value).normalize(), 'f'); catch "
                  "InvalidOperation.",
                  "stated = _ANSWER_IS.findall(text); if stated: return normalize_number(stated[-1]); "
                  "numbers = _NUMBER.findall(text); return normalize_number(numbers[-1] if last else "
                  "numbers[0])")),
        Exercise("vote", "self-consistency voting",
                 "majority voting over sampled chains of thought, and ties broken the same way on every run",
                 1,
                 "vote.py", ("majority",), (f"{EX}.stats:majority",), f"{G}.cot:grade_vote",
                 ("Count only answers that are not None and not ''.",
                  "Counter gives the counts; the winner is the first answer in the original order with the "
                  "top count.",
                  "best = max(counts.values()); return next(a for a in answers if a not in (None, '') "
                  "and counts[a] == best)")),
    ))

ICL = LearnProject(
    key="icl", roadmap_key="icl", title="In-Context Learning", doc="docs/icl.md", aliases=("few-shot",),
    exercises=(
        Exercise("few_shot", "the few-shot prompt",
                 "what a k-shot prompt is: instruction, demonstrations in one format, then the open query", 1,
                 "few_shot.py", ("icl_prompt",), (f"{EX}.prompts:icl_prompt",), f"{G}.icl:grade_few_shot",
                 ("Build the text from three parts: the head (instruction + blank line, or ''), the shots, "
                  "the query.",
                  "Each demonstration ends with a blank line ('\\n\\n'); the query line ends at the output "
                  "name's "
                  "colon. The chat version: a system turn, then user/assistant pairs, then the query.",
                  "shots = ''.join(f'{task.input_name}: {d.question}\\n{task.output_name}: {d.answer}\\n\\n' "
                  "for d in demos); text = f'{head}{shots}{task.input_name}: "
                  "{item.question}\\n{task.output_name}:'")),
        Exercise("demos", "choosing demonstrations",
                 "why a query never demonstrates itself, and nested demonstrations across shot counts", 1,
                 "demos.py", ("pick_demos",), (f"{EX}.prompts:pick_demos",), f"{G}.icl:grade_demos",
                 ("Filter the pool by id first; check k against what is left.",
                  "One shuffle per (seed, query), never per k: the seed string does not contain k.",
                  "others = [p for p in pool if p.id != query.id]; random.Random(f'{seed}-{query.id}')"
                  ".shuffle(others); return others[:k]")),
    ))

PROJECTS += [AGENTS, COT, ICL]
