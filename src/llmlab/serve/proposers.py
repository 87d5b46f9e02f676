"""Where speculative drafts come from: n-gram lookup in the request's own tokens, or a smaller draft model.

    proposer = PromptLookup(max_ngram=3)         # no second model
    proposer = DraftModel("runs/serve/draft")    # any smaller model directory with the same tokenizer
    drafts, probs = proposer.propose(req, k=4)   # up to k tokens; probs (len, V) or None (a point guess)
    proposer.accepted(req, num_tokens)           # after verification: only the first num_tokens are real
    proposer.forget(live_ids)                    # drop the state of requests that have finished

Prompt lookup (as in vLLM's ngram proposer): find the most recent earlier occurrence of the last n
tokens (n from max_ngram down to 1) with k tokens after it (else the one with the most) and propose
those. It costs nothing and pays off where answers copy their context (summaries, code edits,
extraction); elsewhere it proposes nothing, or guesses that are rejected.

The draft model keeps one Hugging Face KV cache per request (not paged: it is small), feeds it only the
tokens it has not seen, drafts k tokens one at a time with the request's own sampling settings (its q),
and crops the cache back to the verified tokens. Drafting is per request, k small forwards each, which is
why it pays off at batch 1 and not at batch 16 on a CPU (docs/results.md).
"""

from __future__ import annotations

from typing import Any

import torch

from llmlab.errors import LabError
from llmlab.generation import process_logits
from llmlab.serve.request import Request


class PromptLookup:
    name = "ngram"

    def __init__(self, max_ngram: int = 3, min_ngram: int = 1):
        self.max_ngram, self.min_ngram = max_ngram, min_ngram

    def propose(self, req: Request, k: int) -> tuple[list[int], None]:
        """[1, 2, 3, 9, 1, 2] with k=2: the tail (1, 2) occurred at 0, followed by 3, 9 -> [3, 9].
        In a loop ([7, 7, 7, 7]) the most recent match has one token after it; an older one has k."""
        ids = req.token_ids
        for n in range(min(self.max_ngram, len(ids) - 1), self.min_ngram - 1, -1):
            tail, best = ids[-n:], []
            for start in range(len(ids) - n - 1, -1, -1):         # the most recent match first
                if ids[start:start + n] == tail:
                    follow = ids[start + n:start + n + k]
                    if len(follow) == k:
                        return follow, None
                    best = follow if len(follow) > len(best) else best
            if best:
                return best, None
        return [], None

    def accepted(self, req: Request, num_tokens: int) -> None:
        return None

    def forget(self, live: set[str]) -> None:
        return None


class DraftModel:
    name = "draft"

    def __init__(self, model_dir: str, device: torch.device, target_vocab: int):
        from transformers import AutoModelForCausalLM

        try:
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
            self.model = model.to(device).eval()
        except OSError as exc:
            raise LabError(f"cannot load the draft model {model_dir!r}: {exc}",
                           hint="pass a Hugging Face model directory with the target's tokenizer") from None
        vocab = self.model.config.vocab_size
        if vocab > target_vocab:
            raise LabError(f"the draft model's vocabulary ({vocab}) is larger than the target's "
                           f"({target_vocab})",
                           hint="the draft must share the target's tokenizer")
        self.device, self.target_vocab = device, target_vocab
        cfg = self.model.config
        # past its context the draft proposes nothing (the target goes on alone)
        self.max_positions = (getattr(cfg, "n_positions", None)
                              or getattr(cfg, "max_position_embeddings", None) or 1 << 30)
        self.caches: dict[str, tuple[Any, int]] = {}      # request id -> (KV cache, tokens in it)

    @torch.inference_mode()
    def propose(self, req: Request, k: int) -> tuple[list[int], torch.Tensor]:
        from transformers import DynamicCache

        if req.num_tokens + k > self.max_positions:
            return [], None
        cache, seen = self.caches.get(req.request_id, (None, 0))
        if cache is None:
            cache = DynamicCache()
        new = req.token_ids[seen:]
        drafts, probs = [], []
        for _ in range(k):
            ids = torch.tensor([new], device=self.device)
            logits = self.model(input_ids=ids, past_key_values=cache, use_cache=True).logits[0, -1]   # (V_d,)
            seen += len(new)
            scores = torch.full((self.target_vocab,), float("-inf"), device=self.device)
            scores[:logits.shape[-1]] = logits.float()
            scores = process_logits(scores.unsqueeze(0), req.params)[0]
            if req.params.greedy:
                tok = int(scores.argmax())
                q = None
            else:
                q = torch.softmax(scores, -1)
                tok = int(torch.multinomial(q, 1, generator=req.generator))
                probs.append(q)
            drafts.append(tok)
            new = [tok]
        self.caches[req.request_id] = (cache, seen)       # the last draft is not in it yet
        return drafts, (torch.stack(probs) if probs else None)

    def accepted(self, req: Request, num_tokens: int) -> None:
        """Forget what the cache holds past the request's first `num_tokens` tokens."""
        cache, seen = self.caches.get(req.request_id, (None, 0))
        if cache is not None and seen > num_tokens:
            cache.crop(num_tokens - seen)        # transformers 5: a negative count drops that many
            self.caches[req.request_id] = (cache, num_tokens)

    def forget(self, live: set[str]) -> None:
        for rid in [r for r in self.caches if r not in live]:
            del self.caches[rid]


def make_proposer(spec: str, device: torch.device, target_vocab: int):
    """`ngram` -> PromptLookup, `draft:<dir>` -> DraftModel, "" -> None (no speculation)."""
    if not spec:
        return None
    if spec == "ngram":
        return PromptLookup()
    if spec.startswith("draft:") and spec[6:]:
        return DraftModel(spec[6:], device, target_vocab)
    raise LabError(f"unknown speculative proposer {spec!r}", hint="use ngram or draft:<model dir>")
