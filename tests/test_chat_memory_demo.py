"""The chat step's memory demonstration and the lab model's training data: a fact stated early and trimmed out
of the window comes back only through memory (checked with a scripted word model, so the mechanism is tested
apart from what a small trained model manages); the dialogues' token ids equal the chat template's, and only
replies that state a fact, the last reply and their EOT are learned."""

import random
import re

import pytest

from llmlab.chat.memory import ChatStore
from word_llm import WordLLM


def copies_the_code(prompt: str) -> list[str]:
    """A perfect reader of its own prompt: the locker code if the prompt states it, else 'I do not know'."""
    if prompt.rstrip().endswith("What is my locker code?\nassistant:"):
        found = re.findall(r"locker code is (\d+)", prompt)
        return f"Your locker code is {found[-1]}.".split() if found else ("I do not know your locker "
                                                                          "code.").split()
    return ["fine,", "thanks."]


def test_trimmed_fact_is_answered_only_with_memory(tmp_path):
    from llmlab.chat.roadmap_step import _conversation

    llm = WordLLM(window=240, answer=copies_the_code)
    talk = _conversation(llm, ChatStore(tmp_path / "sessions"), "4821", seed=0, prompt_room=80)
    last = talk["plans"][-1]
    assert talk["rows"][-1]["untrimmed"] > llm.context_window                 # longer than the window
    # the statement is out of it
    assert {"role": "user", "content": "My locker code is 4821."} in last.dropped
    assert any("4821" in note for note in last.memory_kept)                  # recall put it back
    assert talk["answer_with"] == "Your locker code is 4821."
    assert talk["answer_without"] == "I do not know your locker code."
    # within the room the model knows
    assert all(p.prompt_tokens <= p.budget <= 80 for p in talk["plans"])


def test_without_recall_the_fact_stays_lost(tmp_path, monkeypatch):
    # the same conversation with recall switched off answers as the memory-off path does: the check can fail
    import llmlab.chat.bot
    from llmlab.chat.roadmap_step import _conversation

    class NoRecall(llmlab.chat.bot.ChatBot):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "recall_k": 0})

    monkeypatch.setattr(llmlab.chat.bot, "ChatBot", NoRecall)
    talk = _conversation(WordLLM(window=240, answer=copies_the_code), ChatStore(tmp_path / "s"), "4821",
                         seed=0,
                         prompt_room=80)
    assert talk["answer_with"] == "I do not know your locker code."


@pytest.fixture(scope="module")
def tokenizer():
    from llmlab.chat.dialogues import docs_sentences
    from llmlab.chat.lab_model import fit_tokenizer
    from llmlab.data import load_corpus

    text = load_corpus("python-docs").text[:20_000]
    return fit_tokenizer(text, 320), docs_sentences(text)


def test_dialogue_ids_equal_the_rendered_chat_and_learn_only_replies(tokenizer):
    from llmlab.chat.dialogues import is_memory_reply, memory_dialogue
    from llmlab.chat.lab_model import EOT, chat_ids
    from llmlab.tokenizer.chat_template import render_chat

    tok, sentences = tokenizer
    rng = random.Random(0)
    for _ in range(20):
        d = memory_dialogue(rng, sentences)
        ids, learn = chat_ids(tok, d.messages + [{"role": "assistant", "content": d.answer}])
        rendered = render_chat(tok, d.messages) + f" {d.answer}{EOT}\n"
        assert ids == tok.encode(rendered, add_special_tokens=False)
        learned = tok.decode([t for t, ok in zip(ids, learn, strict=True) if ok])
        assert learned.endswith(f" {d.answer}{EOT}")
        replies = [m["content"] for m in d.messages if m["role"] == "assistant"]
        assert learned == "".join(f" {r}{EOT}" for r in replies if is_memory_reply(r)) + f" {d.answer}{EOT}"
    assert all(len(tok.encode(f" {d}")) == 2 for d in "0123456789")     # one token per digit (and the space)


def test_questions_are_answered_from_the_prompt_or_not_known(tokenizer):
    from llmlab.chat.dialogues import FACTS, memory_dialogue, unknown_answer

    _, sentences = tokenizer
    rng = random.Random(1)
    for _ in range(200):
        d = memory_dialogue(rng, sentences)
        question = d.messages[-1]["content"]
        fact = next((f for f in FACTS if f.question == question), None)
        if fact is None:
            continue
        prompt = "\n".join(m["content"] for m in d.messages[:-1])
        value = d.answer.rstrip(".").split()[-1]
        assert d.answer == unknown_answer(fact) or value in prompt       # never an answer the prompt lacks


def test_lab_batches_mask_everything_but_the_learned_tokens(tokenizer):
    import numpy as np

    from llmlab.chat.lab_model import LabBatches, LabModelConfig
    from llmlab.training.batches import IGNORE_INDEX

    tok, sentences = tokenizer
    cfg = LabModelConfig(block_size=128, batch_size=8, dialogue_share=1.0)
    ids = np.array(tok.encode(" ".join(sentences)), dtype=np.int64)
    x, y = LabBatches(tok, ids, sentences, cfg).next_batch()
    assert x.shape == y.shape and x.shape[0] == 8 and x.shape[1] % 8 == 0
    learned = y != IGNORE_INDEX
    assert 0 < learned.float().mean() < 0.5
    assert (y[:, :-1][learned[:, :-1]] == x[:, 1:][learned[:, :-1]]).all()     # a target is the next input
