"""Speculative decoding's verification: k drafted tokens checked against one target forward pass.

    tokens = verify(target_logits, params, drafts=[5, 9, 2], draft_probs=None, generator=g)
    # target_logits (k + 1, V): row i scores the token after drafts[:i]
    # tokens: the accepted drafts, then one token of the target's

Greedy: a draft is kept while it is the target's argmax; the first mismatch is replaced by the argmax, and
when all k are kept the last row gives a bonus token. So the output is token for token the target's own
greedy output, only produced up to k + 1 tokens per forward pass.

Sampling (Leviathan et al. 2023, Chen et al. 2023), with p the target's and q the draft's distribution
after temperature / top-k / top-p:

    accept draft x with probability min(1, p(x) / q(x));
    on the first rejection draw from  norm(max(0, p - q))  and stop;
    if all k are accepted draw the bonus token from p_{k+1}.

Every emitted token is then distributed exactly as p. A proposer without a distribution (prompt lookup)
has q = one-hot(x): x is kept with probability p(x), and a rejection draws from p with x removed.
Not handled here: repetition penalties (their scores depend on the drafts themselves; such requests do
not speculate) and grammars (constrained requests do not speculate either).
"""

from __future__ import annotations

import logging

import torch

from llmlab.generation import SamplingParams, process_logits

log = logging.getLogger("llmlab.serve")


def verify(target_logits: torch.Tensor, params: SamplingParams, drafts: list[int],
           draft_probs: torch.Tensor | None = None, generator: torch.Generator | None = None) -> list[int]:
    """The tokens to append: the accepted prefix of `drafts`, then one token from the target."""
    k = len(drafts)
    scores = process_logits(target_logits.float(), params)            # (k + 1, V)
    if params.greedy:
        best = scores.argmax(-1).tolist()
        for i, d in enumerate(drafts):
            if best[i] != d:
                return drafts[:i] + [best[i]]
        return drafts + [best[k]]
    p = torch.softmax(scores, -1)                                       # (k + 1, V)
    uniform = torch.rand(k, generator=generator, device=p.device).tolist() if k else []
    for i, d in enumerate(drafts):
        q = draft_probs[i] if draft_probs is not None else None
        q_d = 1.0 if q is None else float(q[d])
        if uniform[i] * q_d <= float(p[i, d]):                         # accept with min(1, p / q)
            continue
        if q is None:
            residual = p[i].clone()
            residual[d] = 0.0
        else:
            residual = (p[i] - q.to(p.dtype)).clamp_min(0.0)
        if float(residual.sum()) <= 0.0:         # p == q up to rounding: nothing left over, draw from p
            residual = p[i]
        return drafts[:i] + [_draw(residual, generator)]
    return drafts + [_draw(p[k], generator)]


def _draw(weights: torch.Tensor, generator: torch.Generator | None) -> int:
    return int(torch.multinomial(weights / weights.sum(), 1, generator=generator))


class Speculator:
    """The engine's speculative decoding around one step: drafts in before scheduling, out after sampling.

        speculator.propose(running)     # each decoding request gets up to k drafts appended to token_ids
        speculator.fit(scheduled)       # drafts the step's token budget did not schedule are dropped
        speculator.unwind(req)          # after the forward: drafts out of token_ids (their KV stays)
        speculator.settle(req, n)       # after the accepted tokens are appended: rejected KV rolled back

    The verification pass is the ordinary step: a request with k drafts is scheduled as a k + 1 token chunk
    over the paged cache, and the runner returns the logits of all k + 1 rows. Rolling back is bookkeeping:
    `num_computed` falls back to the verified tokens (rejected slots are overwritten later) and blocks
    holding only rejected tokens go back to the allocator; no block is named in the prefix cache while it
    may hold a draft.
    """

    def __init__(self, proposer, num_tokens: int, tables):
        self.proposer, self.k, self.tables = proposer, num_tokens, tables
        self.drafting: list = []              # requests holding drafts during this step
        self.proposed = self.accepted = self.verifications = self.emitted = 0

    @staticmethod
    def speculates(req) -> bool:
        """Grammars and repetition penalties score each position from the tokens before it: no drafts."""
        return req.constraint is None and req.params.repetition_penalty == 1.0 and req.speculate

    def propose(self, running: list) -> None:
        self.proposer.forget({r.request_id for r in running})
        self.drafting = []
        for req in running:
            if req.num_computed != req.num_tokens - 1 or not self.speculates(req):
                continue                       # still in its prompt
            k = min(self.k, req.stopper.budget - req.stopper.count - 1)    # never past max_tokens
            if k < 1:
                continue
            try:
                drafts, probs = self.proposer.propose(req, k)
            except Exception:            # a broken draft must not stop the engine: this step goes without
                log.exception("the %s proposer failed for request %s", self.proposer.name, req.request_id)
                continue
            if drafts:
                req.drafts, req.draft_probs = drafts[:k], probs
                req.token_ids.extend(req.drafts)
                self.drafting.append(req)

    def fit(self, scheduled: list) -> None:
        """A request scheduled for fewer than 1 + k tokens (the budget ran out, or it was preempted) keeps
        only the drafts that fit."""
        n_of = {id(req): n for req, n in scheduled}
        for req in self.drafting:
            keep = max(n_of.get(id(req), 0) - 1, 0)
            if keep < len(req.drafts):
                del req.token_ids[len(req.token_ids) - len(req.drafts) + keep:]
                req.drafts = req.drafts[:keep]
                req.draft_probs = None if req.draft_probs is None else req.draft_probs[:keep]

    def verify(self, logits: torch.Tensor, req) -> list[int]:
        return verify(logits, req.params, req.drafts, req.draft_probs, req.generator)

    def unwind(self, req) -> int:
        """Take the drafts out of the token list (the step computed them all); how many there were."""
        k = len(req.drafts)
        del req.token_ids[len(req.token_ids) - k:]
        req.num_computed = req.num_tokens
        return k

    def settle(self, req, drafted: int, appended: int) -> None:
        """After `appended` tokens (accepted drafts + one) went in: only the accepted drafts' K/V count,
        and blocks past the request's tokens (rejected drafts only) are freed."""
        self.proposed += drafted
        self.accepted += appended - 1
        self.verifications += 1
        self.emitted += appended
        req.drafts, req.draft_probs = [], None
        if req.finished:                      # a stop inside the accepted tokens freed everything already
            return
        req.num_computed = req.num_tokens - 1
        keep = self.tables.blocks_needed(req.num_tokens)
        while len(req.block_ids) > keep:
            self.tables.alloc.release(req.block_ids.pop())
        self.tables.commit(req)
        self.proposer.accepted(req, req.num_computed)

    def stats(self) -> dict[str, float]:
        return {"spec_draft_tokens": self.proposed, "spec_accepted_tokens": self.accepted,
                "spec_verifications": self.verifications,
                "spec_acceptance_rate": self.accepted / self.proposed if self.proposed else 0.0,
                # tokens each verifying forward pass produced: 1 without speculation, up to k + 1 with it
                "spec_mean_accepted_length": self.emitted / self.verifications if self.verifications else 0.0}
