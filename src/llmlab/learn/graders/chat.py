"""Graders of project 5: int8 quantisation against torch's per-channel quantiser and the half-step bound; the
context planner against llmlab's on many seeded random conversations, with invariants checked on their own.

The conversations are read by scripted models whose token counts are known exactly (one token per word, or
one per four characters of the rendered chat), so "exact counts" and "nothing more could fit" are decidable.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterator

from llmlab.generation import SamplingParams
from llmlab.learn.grading import Mismatch, check_close, check_equal
from llmlab.llm.base import LLM, Delta


# ---- quantise / dequantise -----------------------------------------------------------------------------
def _weights(torch):
    """(what, weight): rows of very different sizes (one scale for the whole tensor fails them), an outlier,
    a row of zeros, and a row of exact halves (round half to even, as torch's quantiser does)."""
    g = torch.Generator().manual_seed(0)
    rows = torch.logspace(-2, 0.7, 16).reshape(16, 1)
    spread = torch.randn(16, 24, generator=g) * rows
    outlier = torch.randn(8, 40, generator=g) * 0.05
    outlier[3, 7] = 4.0
    zero = torch.randn(4, 8, generator=g)
    zero[2] = 0.0
    halves = torch.tensor([[127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5],
                           [254.0, 1.0, 3.0, 5.0, -1.0, -3.0, 7.0, 9.0]])
    return [("W (16, 24) whose rows range from 0.01 to 5 in size", spread),
            ("W (8, 40) with one outlier 4.0 in row 3", outlier), ("W (4, 8) whose row 2 is all zeros", zero),
            ("W (2, 8) of exact halves of a step: 0.5, 1.5, 2.5, -0.5, ... (round half to even)", halves)]


def grade_quantize(ns) -> None:
    import torch

    for what, w in _weights(torch):
        amax = w.abs().amax(dim=1)
        scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))           # (out,)
        with warnings.catch_warnings():                                            # torch marks it deprecated
            warnings.simplefilter("ignore")
            ref = torch.quantize_per_channel(w, scale.double(), torch.zeros(len(w), dtype=torch.long), 0,
                                             torch.qint8)
        got = ns.quantize_weight(w.clone())
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise Mismatch(f"quantize_weight ({what}): return the pair (q, scale), got {type(got).__name__}")
        q, s = got
        check_equal("quantize_weight: q's dtype", getattr(q, "dtype", None), torch.int8, what)
        check_close("quantize_weight: the scales, one per output row (max |W_i·| / 127)", s, scale, 1e-7,
                    what)
        expected = ref.int_repr()
        if q.shape != expected.shape or not torch.equal(q, expected):
            if q.shape != expected.shape:
                raise Mismatch(f"quantize_weight ({what}): q has shape {tuple(q.shape)}, expected "
                               f"{tuple(w.shape)}")
            i, j = (q != expected).nonzero()[0].tolist()
            raise Mismatch(f"quantize_weight ({what}): {int((q != expected).sum())} entries of q differ from "
                           f"torch.quantize_per_channel's; first at [{i}, {j}]: W = {float(w[i, j]):.6g}, "
                           f"W / s = {float(w[i, j] / scale[i]):.4f}, expected q {int(expected[i, j])}, "
                           f"got {int(q[i, j])}")
        for dtype in (torch.float32, torch.float64):
            back = ns.dequantize_weight(q, s, dtype)
            check_equal("dequantize_weight: the dtype asked for", getattr(back, "dtype", None), dtype, what)
            check_close(f"dequantize_weight(q, s, {dtype}) vs torch's dequantize()", back, ref.dequantize(),
                        1e-6,
                        what)
        error = (w - ns.dequantize_weight(q, s)).abs()
        over = error > scale[:, None] / 2 * (1 + 1e-5) + 1e-12
        if over.any():
            i, j = over.nonzero()[0].tolist()
            raise Mismatch(f"|W - Ŵ| must be at most half a step, s_i / 2 ({what}); at [{i}, {j}] it is "
                           f"{float(error[i, j]):.4g} > {float(scale[i] / 2):.4g}")


# ---- the context planner -------------------------------------------------------------------------------
class ScriptedLLM(LLM):
    """A model with known token counts: `count(text)` of the rendered chat (llmlab's default template)."""

    def __init__(self, window: int, count: Callable[[str], int], name: str):
        self.window, self._count, self.name = window, count, name

    @property
    def context_window(self) -> int:
        return self.window

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def _generate(self, prompt: str, params: SamplingParams) -> Iterator[Delta]:
        yield Delta("", "stop", self._count(prompt), 0)


COUNTS = {"1 token per word": lambda text: len(text.split()),
          "1 token per 4 characters": lambda text: (len(text) + 3) // 4}
WORDS = "the model reads what fits and the planner keeps recent turns whole".split()


def _words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _conversation(rng: random.Random) -> tuple[str | None, list[dict], str, list[str]]:
    history = []
    if rng.random() < 0.15:                      # an opening reply before any user message
        history.append({"role": "assistant", "content": _words(rng, 1, 6)})
    for _ in range(rng.randint(0, 7)):
        history.append({"role": "user", "content": _words(rng, 1, 12)})
        for _ in range(rng.choice((0, 1, 1, 1, 2))):      # sometimes no reply, sometimes two
            role = "tool" if rng.random() < 0.1 else "assistant"
            history.append({"role": role, "content": _words(rng, 1, 12)})
    system = rng.choice((None, "", _words(rng, 1, 8), _words(rng, 1, 8)))
    memory = [_words(rng, 1, 6) for _ in range(rng.choice((0, 0, 1, 2, 4)))]
    return system, history, _words(rng, 1, 10), memory


def _describe(i: int, system, history, user, memory, window: int, new: int, counting: str) -> str:
    return (f"conversation #{i}: system {system!r}, {len(history)} history messages, {len(memory)} memory "
            f"notes, "
            f"newest {user!r}; window {window}, max_new_tokens {new}, {counting}")


def _same_plan(got, expected, llm, system, history, user, what: str) -> None:
    from llmlab.chat.context import system_message

    head = system_message(system, expected.memory_kept)       # the system message llmlab's plan opens with
    messages = getattr(got, "messages", None)
    if not isinstance(messages, list) or not messages:
        raise Mismatch(f"fit_context ({what}): return a ContextPlan whose messages is the list the model "
                       f"reads")
    if messages[-1] != {"role": "user", "content": user}:
        raise Mismatch(f"fit_context ({what}): the newest user message must always be the last message; "
                       f"got last {messages[-1]!r}")
    tokens = llm.count_chat_tokens(messages)
    check_equal("fit_context: prompt_tokens must be llm.count_chat_tokens(messages) exactly",
                got.prompt_tokens,
                tokens, what)
    check_equal("fit_context: budget (context_window - max_new_tokens)", got.budget, expected.budget, what)
    if tokens > expected.budget:
        raise Mismatch(f"fit_context ({what}): the messages take {tokens} tokens, over the budget "
                       f"{expected.budget}")
    check_equal("fit_context: memory_kept (the first notes that fit)", list(getattr(got, "memory_kept", [])),
                expected.memory_kept, what)
    check_equal("fit_context: the system message (system prompt + the kept memory notes)",
                messages[:len(head)],
                head, what)
    kept = messages[len(head):-1]
    dropped = list(getattr(got, "dropped", []))
    if dropped + kept != list(history):
        raise Mismatch(f"fit_context ({what}): dropped + the kept history must be the history in order "
                       f"(oldest "
                       f"dropped first); kept {len(kept)} and dropped {len(dropped)} of {len(history)} "
                       f"messages")
    if len(dropped) != len(expected.dropped):
        more = "more" if len(dropped) > len(expected.dropped) else "fewer"
        raise Mismatch(f"fit_context ({what}): you dropped {len(dropped)} history messages, {more} than the "
                       f"{len(expected.dropped)} llmlab drops (the fewest oldest WHOLE exchanges that make "
                       f"it fit; "
                       f"llmlab's prompt: {expected.prompt_tokens} of {expected.budget} tokens)")
    check_equal("fit_context: messages", messages, expected.messages, what)


def grade_context(ns) -> None:
    from llmlab.chat.context import exchanges, fit_context, system_message
    from llmlab.llm.base import ContextWindowError

    example = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
               {"role": "assistant", "content": "c"}, {"role": "user", "content": "d"}]
    rng = random.Random(0)
    cases = [(0, "be brief", [m for i in range(3) for m in ({"role": "user",
                                                             "content": f"question number {i}"},
                                                              {"role": "assistant",
                                                               "content": f"answer {i}"})],
              "what now", [], 35, 10, "1 token per word")]
    for i in range(1, 241):
        system, history, user, memory = _conversation(rng)
        counting = rng.choice(list(COUNTS))
        probe = ScriptedLLM(10**6, COUNTS[counting], "probe")
        bare = probe.count_chat_tokens(system_message(system, []) + [{"role": "user", "content": user}])
        full = probe.count_chat_tokens(system_message(system, memory) + history + [{"role": "user",
                                                                                    "content": user}])
        new = rng.choice((4, 16))
        cases.append((i, system, history, user, memory, new + rng.randint(bare - 2, full + 2), new, counting))
    for history in [example, *[c[2] for c in cases[:40]]]:
        check_equal("exchanges", ns.exchanges(list(history)), exchanges(history),
                    f"a history of {len(history)} messages, roles {[m['role'] for m in history]}")
    for i, system, history, user, memory, window, new, counting in cases:
        llm = ScriptedLLM(window, COUNTS[counting], "scripted")
        what = _describe(i, system, history, user, memory, window, new, counting)
        try:
            expected = fit_context(llm, system, history, user, new, memory)
        except ContextWindowError:
            expected = None
        if expected is None:
            try:
                ns.fit_context(llm, system, list(history), user, new, list(memory))
            except ContextWindowError:
                continue
            raise Mismatch(f"fit_context ({what}): the system prompt and the newest message alone do not fit "
                           f"the "
                           f"budget {window - new}: raise ContextWindowError saying so")
        try:
            got = ns.fit_context(llm, system, list(history), user, new, list(memory))
        except ContextWindowError as exc:
            raise Mismatch(f"fit_context ({what}): raised ContextWindowError ({exc}), but llmlab fits "
                           f"{expected.prompt_tokens} of {expected.budget} tokens") from None
        _same_plan(got, expected, llm, system, history, user, what)
