"""Synthetic memory dialogues: conversations whose last answer must be copied from an earlier turn, a recalled
note or a pinned fact, built exactly as `ChatBot` builds a turn (system prompt + memory notes + history + the
newest message), for training the lab's chat model to use what memory puts back.

    d = memory_dialogue(random.Random(0), sentences)
    d.messages     # [system (+ notes), ...history, {"role": "user", "content": "What is my locker code?"}]
    d.answer       # "Your locker code is 4821."  (or "I do not know your locker code." when no source has it)

A fact lives in one of four places: an earlier turn still in the window, a note recalled from a dropped turn
("earlier, user said: My locker code is 4821."), a pinned fact ("my locker code is 4821"), or nowhere. Only
the last answer is learned; the rest is context. Not handled: facts that change during a conversation.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from llmlab.chat.bot import DEFAULT_SYSTEM
from llmlab.chat.context import system_message

NAMES = ["Ada", "Alan", "Grace", "Linus", "Guido", "Barbara", "Ken", "Dennis", "Edsger", "Donald", "Margaret",
         "Tim", "Radia", "Frances", "John", "Karen", "Niklaus", "Bjarne", "Leslie", "Yukihiro", "Anders",
         "Hedy"]
COLOURS = ["teal", "red", "blue", "green", "orange", "purple", "yellow", "black", "white", "pink", "grey",
           "gold"]
CITIES = ["Paris", "Lagos", "Lima", "Oslo", "Tokyo", "Cairo", "Delhi", "Quito", "Seoul", "Vienna", "Dublin",
          "Rome"]


def _digits(n: int):
    return lambda rng: "".join(rng.choice("0123456789") for _ in range(n))


@dataclass(frozen=True)
class Fact:
    key: str            # "locker code": what the question and the answers name
    statement: str      # how the user says it: "My locker code is {}."
    question: str
    answer: str         # "Your locker code is {}."
    pinned: str         # as a pinned fact (`session.remember`): "my locker code is {}"
    values: object      # rng -> value

    def value(self, rng: random.Random) -> str:
        return self.values(rng) if callable(self.values) else rng.choice(self.values)


FACTS = [
    Fact("locker code", "My locker code is {}.", "What is my locker code?", "Your locker code is {}.",
         "my locker code is {}", _digits(4)),
    Fact("room number", "My room number is {}.", "What is my room number?", "Your room number is {}.",
         "my room number is {}", _digits(3)),
    Fact("name", "My name is {}.", "What is my name?", "Your name is {}.", "my name is {}", NAMES),
    Fact("favourite colour", "My favourite colour is {}.", "What is my favourite colour?",
         "Your favourite colour is {}.", "my favourite colour is {}", COLOURS),
    Fact("city", "I live in {}.", "Where do I live?", "You live in {}.", "I live in {}", CITIES),
]
FACT = {f.key: f for f in FACTS}


def is_memory_reply(text: str) -> bool:
    """An assistant reply that states a fact (an answer, an acknowledgement, or saying it is not known)."""
    return text.startswith(("Your ", "You live", "Noted: ", "I do not know"))


def unknown_answer(fact: Fact) -> str:
    """What the model is taught to say when no source in its prompt holds the fact."""
    return f"I do not know your {fact.key}."


def noted_answer(fact: Fact, value: str) -> str:
    return "Noted: " + fact.answer.format(value)[0].lower() + fact.answer.format(value)[1:]


def recalled_note(role: str, text: str) -> str:
    """A dropped message as ChatBot.recalled_notes writes it."""
    return f"earlier, {role} said: {text}"


@dataclass
class Dialogue:
    messages: list[dict[str, str]]
    answer: str


def docs_sentences(text: str, limit: int = 5000) -> list[str]:
    """Plain sentences of 30-120 characters from a corpus: the small talk between the facts."""
    out = []
    for s in re.split(r"(?<=[.!?])\s+", text):
        s = " ".join(s.split())
        if 30 <= len(s) <= 120 and s[0].isupper() and "`" not in s and "::" not in s:
            out.append(s)
            if len(out) >= limit:
                break
    return out


def filler_exchange(rng: random.Random, sentences: Sequence[str]) -> tuple[str, str]:
    """("Tell me about <a word of s>.", s): a question about the docs and a sentence of them as the reply."""
    s = rng.choice(sentences)
    words = [w for w in re.findall(r"[A-Za-z]{5,}", s)] or ["Python"]
    return f"Tell me about {rng.choice(words).lower()}.", s


def memory_dialogue(rng: random.Random, sentences: Sequence[str], max_fillers: int = 3,
                    system: str = DEFAULT_SYSTEM) -> Dialogue:
    """One random conversation, its last answer learned: a question about a fact (most often), a new fact to
    acknowledge, or small talk."""
    # the locker code (the demo's question) half the time; two or three facts a third of the time
    facts = [FACT["locker code"]] if rng.random() < 0.5 else [rng.choice(FACTS)]
    facts += rng.sample([f for f in FACTS if f not in facts], rng.choice([0, 0, 1, 2]))
    values = {f.key: f.value(rng) for f in facts}
    exchanges = [list(filler_exchange(rng, sentences)) for _ in range(rng.randint(0, max_fillers))]
    notes: list[str] = []
    for f in facts:
        where = rng.choice(["turn", "turn", "recalled", "recalled", "pinned", "nowhere"])
        v = values[f.key]
        if where == "turn":
            at = rng.randint(0, len(exchanges))
            exchanges.insert(at, [f.statement.format(v), noted_answer(f, v)])
            if rng.random() < 0.4:      # asked already once: another answer to copy, nearer its source
                exchanges.insert(rng.randint(at + 1, len(exchanges)), [f.question, f.answer.format(v)])
        elif where == "recalled":
            notes.append(recalled_note("user", f.statement.format(v)) if rng.random() < 0.6
                         else recalled_note("assistant", noted_answer(f, v)))
        elif where == "pinned":
            notes.append(f.pinned.format(v))
        else:
            values[f.key] = None
    if notes and rng.random() < 0.5:        # recall also brings back turns that are not about the question
        user, reply = filler_exchange(rng, sentences)
        notes.insert(rng.randint(0, len(notes)), recalled_note(rng.choice(["user", "assistant"]),
                                                              user if rng.random() < 0.5 else reply))
    history = [{"role": role, "content": text}
               for ex in exchanges for role, text in zip(("user", "assistant"), ex, strict=True)]
    kind = rng.random()
    if kind < 0.7:
        asked = rng.choice(facts) if rng.random() < 0.85 else rng.choice([f for f in FACTS if f not in facts])
        v = values.get(asked.key)
        user, answer = asked.question, asked.answer.format(v) if v else unknown_answer(asked)
    elif kind < 0.85:
        new = rng.choice(FACTS)
        v = new.value(rng)
        user, answer = new.statement.format(v), noted_answer(new, v)
    else:
        user, answer = filler_exchange(rng, sentences)
    return Dialogue(system_message(system, notes) + history + [{"role": "user", "content": user}], answer)
