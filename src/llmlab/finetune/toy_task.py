"""The offline post-training task: the chain-of-thought experiment's arithmetic chains, asked as a chat.

    task = ChainTask(seed=0, slip=0.75)              # modulus 10, 2 operations, written step by step
    tok = task.tokenizer()                           # characters + <|end|>, with a tiny chat template
    task.conversations(1)[0]   # e.g. [{"role": "user", "content": "3*4+7="},
                               #       {"role": "assistant", "content": "3*4=7,7+7=4."}]   (a slip: 3*4 is 2)
    task.accuracy(model, tok, task.test)             # exact match of the true answer on held-out problems

The problems, their answers and the answer reader are llmlab.experiments.cot_train's (make_chains,
prompt_text, target_text, read_answer), so the task cannot drift from the CoT reproduction. The answer is
the scratchpad (one operation per step, mod 10), which a tiny GPT learns to imitate in ~1500 steps.

SFT's demonstrations come from a flawed demonstrator: with `slip` > 0 it computes that share of its
`slip_op` steps with the wrong operator (SLIPS: a*b written as a+b), a habit rather than noise, so
imitation learns it as the likeliest continuation and repeats it. Everything that judges, the held-out
score, DPO's chosen answers and GRPO's exact reward (1 when the completion's final value equals the
chain's, else 0), uses the true answer: the verifier the demonstrator lacked. That is the lesson of
post-training: imitation copies the demonstrator's mistakes, a verifier does not. slip = 0 is an honest
demonstrator. Held-out problems are never among the training ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmlab.errors import LabError
from llmlab.experiments.cot_train import (
    Chain,
    CotPreset,
    held_out,
    make_chains,
    prompt_text,
    read_answer,
    target_text,
)

END = "<|end|>"
TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'user' %}Q:{{ m['content'] }}\n"
            "{% elif m['role'] == 'assistant' %}A:{{ m['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}A:{% endif %}")
# the flawed demonstrator's habit: on a slipped step it computes with the other operator ("3*4=7")
SLIPS = {"*": "+", "+": "*", "-": "+"}


@dataclass
class ChainTask:
    seed: int = 0
    modulus: int = 10
    min_ops: int = 2
    max_ops: int = 2
    ops: str = "+-*"
    mode: str = "scratchpad"              # or "answer": the final value only (much harder for a tiny model)
    n_train: int = 4000
    n_eval: int = 100                     # held-out problems per number of operations
    slip: float = 0.0                     # share of slip_op steps the SFT demonstrator gets wrong (SLIPS)
    slip_op: str = "*"
    chains: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if not 0.0 <= self.slip <= 1.0 or self.slip_op not in SLIPS:
            raise LabError(f"slip={self.slip}, slip_op={self.slip_op!r}: need 0 <= slip <= 1 and slip_op one "
                           "of " + " ".join(SLIPS), hint="--set slip=0.6 --set slip_op=*")
        self.preset = CotPreset(modulus=self.modulus, min_ops=self.min_ops, max_ops=self.max_ops,
                                ops=self.ops, n_eval=self.n_eval, seed=self.seed)
        self.train = make_chains(self.n_train, self.preset, self.seed)
        self.test = held_out(self.preset, self.train)
        # DPO and GRPO practise on problems of their own (neither SFT's nor the held-out ones): progress there
        # is a skill the model gained, not SFT answers it memorised
        asked = {self.question(c) for c in self.test}
        self.practice = [c for c in make_chains(self.n_train, self.preset, self.seed + 20_000)
                         if self.question(c) not in asked]

    def tokenizer(self):
        """A character tokenizer over the task's alphabet and the template, as an HF tokenizer with the
        chat template and <|end|> as EOS (and pad: padding is never a target)."""
        from llmlab.tokenizer.char import CharTokenizer

        tok = CharTokenizer.train("0123456789+-*=,.QA:\n", unk=True).to_hf()
        tok.add_special_tokens({"eos_token": END, "pad_token": END})
        tok.chat_template = TEMPLATE
        return tok

    def question(self, chain) -> str:
        return prompt_text(chain, self.modulus)

    def answer(self, chain) -> str:
        return target_text(chain, self.modulus, self.mode)          # "3*4=2,2+7=9." (answer: "9.")

    @classmethod
    def for_config(cls, cfg: Any) -> ChainTask:
        """The task a post-training config describes (its seed, problems, eval_problems, slip, slip_op)."""
        return cls(seed=cfg.seed, n_train=cfg.problems, n_eval=cfg.eval_problems, slip=cfg.slip,
                   slip_op=cfg.slip_op)

    def demonstration(self, i: int) -> str:
        """The SFT demonstrator's answer to training problem i: right, except that each slip_op step is,
        with probability `slip`, computed with the operator SLIPS names ("3*4=7" for 3*4=2), and the later
        steps go on correctly from that wrong value ("3*4=7,7+7=4."). A fixed rule, not noise: above
        slip = 0.5 the wrong value is the demonstrations' most frequent continuation, so imitation learns it
        and greedy decoding repeats it, while the right one keeps probability ~1 - slip for a verifier to
        find. Seeded per problem (reproducible); slip = 0 draws the true answers, answer(chain)."""
        chain = self.train[i]
        rng = np.random.default_rng([self.seed, 30_000, i])
        value, results = chain.start, []
        for op, x in chain.steps:
            used = SLIPS[op] if op == self.slip_op and rng.random() < self.slip else op
            value = Chain(value, ((used, x),)).results(self.modulus)[0]
            results.append(value)
        return target_text(chain, self.modulus, self.mode, results=results)

    def conversations(self, n: int | None = None) -> list[list[dict[str, str]]]:
        """SFT's conversations: the training problems with the demonstrator's answers (flawed when slip > 0;
        everything else, evaluation, DPO's chosen answers and GRPO's reward, uses the true answer)."""
        return [[{"role": "user", "content": self.question(c)},
                 {"role": "assistant", "content": self.demonstration(i)}]
                for i, c in enumerate(self.train[:n])]

    def prompts(self, n: int | None = None) -> list[dict[str, str]]:
        """GRPO's rows (practice problems): the question and the expected answer the reward checks."""
        return [{"prompt": self.question(c), "answer": read_answer(self.answer(c))}
                for c in self.practice[:n]]

    def answers(self, model: Any, tok: Any, chains: list[Any], batch: int = 256) -> list[str]:
        """Greedy answers, batched by prompt length (equal-length rows need no padding)."""
        from collections import defaultdict

        from llmlab.generation import SamplingParams, generate
        from llmlab.tokenizer.chat_template import render_chat

        params = SamplingParams(temperature=0.0, max_new_tokens=len(self.answer(chains[0])) + 2,
                                stop_token_ids=(tok.eos_token_id,))
        ids = [tok(render_chat(tok, [{"role": "user", "content": self.question(c)}]),
                   add_special_tokens=False)["input_ids"] for c in chains]
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, row in enumerate(ids):
            by_length[len(row)].append(i)
        texts: list[str] = [""] * len(chains)
        was_training = model.training
        model.eval()
        for rows in by_length.values():
            for k in range(0, len(rows), batch):
                part = rows[k:k + batch]
                for i, text in zip(part, generate(model, [ids[i] for i in part], params, tokenizer=tok).texts,
                                   strict=True):
                    texts[i] = text
        model.train(was_training)
        return texts

    def accuracy(self, model: Any, tok: Any, chains: list[Any] | None = None) -> tuple[int, int]:
        """(right, total) on `chains` (default: the held-out problems)."""
        chains = self.test if chains is None else chains
        got = self.answers(model, tok, chains)
        right = sum(read_answer(t) == read_answer(self.answer(c)) for t, c in zip(got, chains, strict=True))
        return right, len(chains)

    def preference_pairs(self, model: Any, tok: Any, n: int) -> list[dict[str, str]]:
        """DPO pairs on practice problems: chosen = the right answer, rejected = the model's own greedy answer
        where it is wrong, cut after its first wrong step (else the right text with its last value one
        off)."""
        chains = self.practice[:n]
        got = self.answers(model, tok, chains)
        pairs = []
        for chain, text in zip(chains, got, strict=True):
            right = self.answer(chain)
            wrong = first_wrong_step(text, right) if read_answer(text) != read_answer(right) else None
            if wrong is None:                 # right already: the same text with the final value one off
                body = right[:-1]
                cut = max(body.rfind("="), body.rfind(",")) + 1
                value = (int(body[cut:]) + 1) % self.modulus
                wrong = f"{body[:cut]}{value:0{len(body) - cut}d}."
            pairs.append({"prompt": self.question(chain), "chosen": right, "rejected": wrong})
        return pairs


def first_wrong_step(text: str, right: str) -> str | None:
    """The model's scratchpad up to and including its first wrong step, closed with "." ("6-2=6,6-1=5."
    against "6-2=4,4-1=3." -> "6-2=6."). The steps after a mistake are often right arithmetic on a wrong
    value: kept in the rejected answer, DPO would push those correct steps down too."""
    mine, theirs = text.split(".", 1)[0].split(","), right.split(".", 1)[0].split(",")
    for i, step in enumerate(mine):
        if i >= len(theirs) or step != theirs[i]:
            return ",".join(mine[:i + 1]) + "."
    return None if len(mine) == len(theirs) else ",".join(mine) + "."     # stopped early: wrong as it is


def exact_answer_reward(prompts: list[Any], completions: list[str], answers: list[Any]) -> list[float]:
    """1.0 when the completion's answer (read as the CoT experiment reads it) equals the expected one."""
    return [float(read_answer(c) == str(a)) for c, a in zip(completions, answers, strict=True)]
