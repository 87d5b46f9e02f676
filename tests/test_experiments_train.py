"""The offline reproductions at a tiny size: problem generation, loss masks, held-out sets, the training
pipeline."""

import json

import numpy as np
import pytest
import torch

from llmlab.errors import LabError
from llmlab.experiments.cot_train import (
    Chain,
    CotPreset,
    build_rows,
    compare_cot,
    cot_summary,
    held_out,
    make_chains,
    prompt_text,
    read_answer,
    target_text,
)
from llmlab.experiments.icl_train import (
    IclPreset,
    icl_summary,
    ideal_accuracy,
    make_sequences,
    to_rows,
    train_icl,
)
from llmlab.experiments.sequences import MaskedRows
from llmlab.training.batches import IGNORE_INDEX as IGNORE
from llmlab.training.batches import pad_rows

TINY = ["n_layer=1", "n_head=2", "n_embd=16", "max_steps=6", "batch_size=8", "warmup_steps=1"]


def test_chain_arithmetic_and_formats():
    chain = Chain(3, (("*", 4), ("+", 7), ("-", 2)))
    assert chain.results(10) == [2, 9, 7]                     # 12 -> 2, 2 + 7 = 9, 9 - 2 = 7
    assert chain.results(100) == [12, 19, 17]
    assert prompt_text(chain, 10) == "3*4+7-2="
    assert target_text(chain, 10, "answer") == "7."
    assert target_text(chain, 10, "scratchpad") == "3*4=2,2+7=9,9-2=7."
    assert target_text(chain, 10, "scratchpad", "results") == "2,9,7."
    assert target_text(chain, 100, "scratchpad") == "03*04=12,12+07=19,19-02=17."
    assert read_answer("3*4=2,2+7=9,9-2=7.") == "7" and read_answer("7.") == "7"


def test_chains_are_deterministic_and_held_out():
    cfg = CotPreset(n_train=2000, n_eval=30)
    train = make_chains(cfg.n_train, cfg, seed=0)
    assert train == make_chains(cfg.n_train, cfg, seed=0) and train != make_chains(cfg.n_train, cfg, seed=1)
    assert {len(c.steps) for c in train} == {2, 3, 4}
    test = held_out(cfg, train)
    seen = {prompt_text(c, 10) for c in train}
    assert not any(prompt_text(c, 10) in seen for c in test)
    assert sorted({len(c.steps) for c in test}) == [2, 3, 4] and len(test) == 90


def test_masked_rows_take_the_loss_on_targets_only():
    from llmlab.experiments.cot_train import ALPHABET
    from llmlab.tokenizer.char import CharTokenizer

    tok = CharTokenizer(list(ALPHABET), unk=False)
    cfg = CotPreset()
    chains = [Chain(3, (("*", 4), ("+", 7))), Chain(1, (("+", 1), ("+", 1), ("+", 1)))]
    ids, flags = build_rows(chains, cfg, "answer", tok)
    assert ids.shape == (2, len("1+1+1+1=4."))
    source = MaskedRows(ids, flags, batch_size=2)
    x, y = source.eval_batch(0)
    # row 0 "3*4+7=9." (padded with ".") : only "9" and "." after "=" are targets
    assert tok.decode(x[0].tolist()).startswith("3*4+7=9")
    assert [tok.decode([t]) if t != IGNORE else "_" for t in y[0].tolist()] == list("_____9.__")
    # random batches are reproducible from (seed, step)
    a = MaskedRows(ids, flags, batch_size=4, seed=3)
    b = MaskedRows(ids, flags, batch_size=4, seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a.next_batch(), b.next_batch(), strict=True))
    with pytest.raises(LabError):
        MaskedRows(ids, flags[:, :-1], batch_size=2)
    padded, mask = pad_rows([[1, 2], [3]], [[False, True], [True]], pad_id=0)
    assert padded.tolist() == [[1, 2], [3, 0]] and mask.tolist() == [[False, True], [True, False]]


@pytest.mark.slow
def test_compare_cot_tiny(tmp_path):
    result = compare_cot(out=tmp_path, overrides=TINY + ["n_train=300", "n_eval=4", "max_ops=3"])
    conditions = result["conditions"]
    assert set(conditions) == {"answer", "scratchpad"}
    assert conditions["answer"]["params"] == conditions["scratchpad"]["params"]
    assert conditions["answer"]["steps"] == conditions["scratchpad"]["steps"] == 6
    assert len(result["items"]) == 2 * 2 * 4 and {r["ops"] for r in result["items"]} == {2, 3}
    summary = cot_summary(result)
    assert (tmp_path / "accuracy_by_ops.png").exists() and (tmp_path / "scratchpad" / "checkpoint").exists()
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["headline"] == summary["headline"] and len(saved["by_ops"]) == 4
    assert len((tmp_path / "items.jsonl").read_text().splitlines()) == 16
    with pytest.raises(LabError, match="min_ops"):
        compare_cot(out=tmp_path, overrides=["min_ops=3", "max_ops=2"])


def test_icl_sequences_and_ideal_learner():
    cfg = IclPreset(n_inputs=5, n_labels=3, pairs=6)
    xs, ys = make_sequences(200, cfg, seed=0)
    assert xs.shape == ys.shape == (200, 6) and xs.max() < 5 and ys.max() < 3
    # within one sequence the same input always has the same label (one task per row)
    for row_x, row_y in zip(xs, ys, strict=True):
        for v in set(row_x.tolist()):
            assert len(set(row_y[row_x == v].tolist())) == 1
    rows, targets = to_rows(xs, ys, cfg)
    assert rows.shape == (200, 12) and targets[:, 1::2].all() and not targets[:, 0::2].any()
    assert (rows[:, 1::2] == 5 + xs * 3 + ys).all()           # "pair" answer tokens name both x and y
    label_cfg = IclPreset(n_inputs=5, n_labels=3, pairs=6, answer_token="label")
    assert (to_rows(xs, ys, label_cfg)[0][:, 1::2] == 5 + ys).all()
    assert ideal_accuracy(0, cfg) == pytest.approx(1 / 3)
    assert ideal_accuracy(1, IclPreset()) == pytest.approx(1 / 8 + 7 / 8 / 4)
    # the ideal curve is what a perfect lookup scores: simulate it
    hits = [((xs[:, :k] == xs[:, k:k + 1]).any(1)).mean() for k in range(6)]
    assert np.allclose([h + (1 - h) / 3 for h in hits], [ideal_accuracy(k, cfg) for k in range(6)], atol=0.08)


def test_train_icl_tiny(tmp_path):
    result = train_icl(out=tmp_path, overrides=TINY + ["n_train=200", "n_eval=10", "pairs=5"])
    assert [r["shots"] for r in result["by_shots"]] == [0, 1, 2, 3, 4]
    assert all(r["n"] == 10 for r in result["by_shots"])
    assert not any(r["seen"] for r in result["items"] if r["shots"] == 0)
    summary = icl_summary(result)
    assert (tmp_path / "accuracy_by_shots.png").exists() and "0-shot" in summary["headline"]
    assert summary["example"].count(">") == 5


def test_the_same_seed_gives_the_same_run(tmp_path):
    """The initial weights must come from the preset's seed, not from whatever state torch's generator is
    in."""
    torch.manual_seed(1)
    first = train_icl(out=tmp_path / "a", overrides=TINY + ["n_train=100", "n_eval=8", "pairs=4"])
    torch.manual_seed(2)
    second = train_icl(out=tmp_path / "b", overrides=TINY + ["n_train=100", "n_eval=8", "pairs=4"])
    assert first["training"]["final_val_loss"] == second["training"]["final_val_loss"]
    assert [r["predicted"] for r in first["items"]] == [r["predicted"] for r in second["items"]]
