"""A request's life inside the engine (`Request`) and what the engine hands back after each step.

`token_ids` holds the prompt followed by every generated token (and, within one speculative step, the
drafts being verified); `num_computed` says how many of them already have their K/V in the cache. A
request waits, runs (prefill chunks, then one token per step), and finishes when its `StopChecker` says
(a stop token, a stop string, its token limit or the context's: llmlab.generation.stopping, the rule
every decoder shares), or on an abort or an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from llmlab.generation import SamplingParams, StopChecker


class Status(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(eq=False)
class Request:
    request_id: str
    prompt_ids: list[int]
    params: SamplingParams
    stopper: StopChecker | None = None       # its finish rules, fed each token (None: params' stops only)
    generator: Any = None                    # torch.Generator for seeded sampling
    constraint: Any = None                   # structured.Constraint: its grammar masks every sampled token
    speculate: bool = True                   # draft tokens for it when the engine has a proposer
    arrival_time: float = field(default_factory=time.perf_counter)

    token_ids: list[int] = field(init=False)
    num_prompt: int = field(init=False)
    status: Status = Status.WAITING
    num_computed: int = 0                    # tokens whose K/V are in the cache
    block_ids: list[int] = field(default_factory=list)
    block_hashes: list[bytes] = field(default_factory=list)   # prefix hashes of its full blocks so far
    num_committed: int = 0                   # full blocks already registered in the prefix cache
    num_cached_tokens: int = -1              # prompt tokens found in the prefix cache (-1: not admitted yet)
    num_preemptions: int = 0
    tokens_sent: int = 0                     # output tokens already handed out
    finish_reason: str | None = None         # one of llmlab.generation.FINISH_REASONS
    drafts: list[int] = field(default_factory=list)   # speculative tokens at the end of token_ids (one step)
    draft_probs: Any = None                  # (len(drafts), V) the draft's distributions; None: point guesses
    first_token_time: float | None = None
    last_token_time: float | None = None

    def __post_init__(self) -> None:
        self.token_ids = list(self.prompt_ids)
        self.num_prompt = len(self.prompt_ids)
        if self.stopper is None:
            self.stopper = StopChecker(self.params)

    @property
    def text(self) -> str:
        """The detokenised output so far, cut before a stop string."""
        return self.stopper.text

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def output_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt:]

    @property
    def finished(self) -> bool:
        return self.status is Status.FINISHED


@dataclass(slots=True)
class RequestOutput:
    """What changed for one request in one step (streaming), or its whole result (`Engine.generate`)."""
    request_id: str
    text: str                      # new text since the previous output
    token_ids: list[int]           # new token ids since the previous output
    finished: bool = False
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0     # so far
    cached_tokens: int = 0         # prompt tokens served from the prefix cache
    ttft: float | None = None      # seconds from arrival to the first token
