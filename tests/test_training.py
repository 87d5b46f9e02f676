"""The shared training loop: schedule, batch windows, exact resume, NaN guard, time budget, HF checkpoints."""

import json
import math

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from llmlab.errors import LabError
from llmlab.runs import RunFolder
from llmlab.tokenizer import CharTokenizer
from llmlab.training import TokenWindows, TrainConfig, Trainer, lr_at
from llmlab.training.checkpoint import begin_atomic, commit_atomic, find_checkpoint

TEXT = ("the quick brown fox jumps over the lazy dog. " * 40 + "pack my box with five dozen liquor jugs! "
                                                               "" * 40)


def _tiny_gpt2(vocab: int, seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    # dropout on, so the resume test also checks that the RNG streams come back
    cfg = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=32, vocab_size=vocab, bos_token_id=None,
                     eos_token_id=None, resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
    return GPT2LMHeadModel(cfg)


def _data(tok, batch=8, block=16):
    ids = np.array(tok.encode(TEXT), dtype=np.uint16)
    cut = int(len(ids) * 0.9)
    return (TokenWindows(ids[:cut], block, batch, seed=3),
            TokenWindows(ids[cut:], block, batch, seed=4, chars_per_token=1.0))


def _cfg(**kw):
    base = dict(max_steps=10, batch_size=8, lr=3e-3, min_lr=3e-4, warmup_steps=2, eval_interval=5,
                eval_iters=2,
                log_interval=1, report_to="none", save_best=False, seed=7)
    base.update(kw)
    return TrainConfig(**base)


def _losses(run: RunFolder) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in run.metrics() if "loss" in r}


def test_schedule_warmup_cosine_endpoints():
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=10, max_steps=110)
    assert lr_at(0, cfg) == pytest.approx(1 / 11)
    assert lr_at(10, cfg) == pytest.approx(1.0)                       # warmup done: the peak
    assert lr_at(60, cfg) == pytest.approx(0.55)                      # half way down the cosine
    assert lr_at(110, cfg) == pytest.approx(0.1) and lr_at(500, cfg) == pytest.approx(0.1)
    lrs = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_windows_shift_and_process_layout():
    ids = np.arange(1000, dtype=np.uint16)
    src = TokenWindows(ids, block_size=8, batch_size=4, seed=0)
    x, y = src.next_batch()
    assert x.shape == (4, 8) and torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(y, x + 1)
    # one process with grad_accum 2 sees the same windows per step as two processes with batch 4 each
    one = TokenWindows(ids, 8, 4, seed=5)
    one.bind(0, 1, 2)
    two = [TokenWindows(ids, 8, 4, seed=5) for _ in range(2)]
    for rank, s in enumerate(two):
        s.bind(rank, 2, 1)
    for _ in range(3):
        a = torch.cat([one.next_batch()[0], one.next_batch()[0]])
        b = torch.cat([s.next_batch()[0] for s in two])
        assert torch.equal(a, b)
    # the position is one counter: restoring it gives the same next batch
    state = one.state_dict()
    nxt = one.next_batch()[0]
    again = TokenWindows(ids, 8, 4, seed=5)
    again.bind(0, 1, 2)
    again.load_state_dict(state)
    assert torch.equal(again.next_batch()[0], nxt)


def test_windows_over_shards_stay_inside_each_shard():
    shards = [np.full(50, 1, dtype=np.uint16), np.full(20, 2, dtype=np.uint16), np.full(5, 3,
                                                                                        dtype=np.uint16)]
    src = TokenWindows(shards, block_size=8, batch_size=64, seed=0)
    x, y = src.next_batch()
    rows = torch.cat([x, y[:, -1:]], dim=1)
    assert all(len(set(r.tolist())) == 1 for r in rows)               # never straddles two shards
    assert set(rows[:, 0].tolist()) == {1, 2}                         # the 5-token shard is too short
    with pytest.raises(LabError, match="too short"):
        TokenWindows(np.zeros(4, dtype=np.uint16), block_size=8, batch_size=2)


def test_resume_is_exact(tmp_path):
    tok = CharTokenizer.train(TEXT)
    full = RunFolder(tmp_path / "full")
    full.path.mkdir()
    Trainer(_tiny_gpt2(tok.vocab_size), _cfg(max_steps=10), full, *_data(tok), tokenizer=tok).fit()

    part = RunFolder(tmp_path / "part")
    part.path.mkdir()
    # stop after 4 steps with the same schedule (decay still planned for 10), then resume to 10
    Trainer(_tiny_gpt2(tok.vocab_size), _cfg(max_steps=4, lr_decay_steps=10), part, *_data(tok),
            tokenizer=tok).fit()
    summary = Trainer(_tiny_gpt2(tok.vocab_size, seed=99), _cfg(max_steps=10), part, *_data(tok),
                      tokenizer=tok).fit(resume=True)
    assert summary["resumed_from"] == 4 and summary["steps"] == 10
    a, b = _losses(full), _losses(part)
    assert sorted(b) == list(range(1, 11))
    for step in range(5, 11):
        assert a[step] == b[step], (step, a[step], b[step])
    assert a[10] < a[1]                                               # and it learned something


def test_checkpoint_is_a_hugging_face_directory(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = CharTokenizer.train(TEXT)
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    model = _tiny_gpt2(tok.vocab_size)
    summary = Trainer(model, _cfg(max_steps=3, save_best=True, report_to="tensorboard", sample_interval=2,
                                  sample_tokens=5), run, *_data(tok), tokenizer=tok).fit()
    loaded = AutoModelForCausalLM.from_pretrained(run.path / "checkpoint").eval()
    hf_tok = AutoTokenizer.from_pretrained(run.path / "checkpoint")
    ids = hf_tok("the quick", return_tensors="pt").input_ids
    assert ids[0].tolist() == tok.encode("the quick")
    model.eval()
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits)
    out = loaded.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert out.shape == (1, ids.shape[1] + 5)
    assert (run.path / "best" / "model.safetensors").exists() and (run.path / "loss.png").exists()
    assert list((run.path / "tensorboard").glob("events.out.tfevents.*"))
    samples = [json.loads(line) for line in (run.path / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [2, 3] and all(len(s["text"]) == 5 for s in samples)
    rows = run.metrics()
    assert {"step", "loss", "lr", "grad_norm", "tokens_per_s"} <= set(rows[0])
    evals = [r for r in rows if "val_loss" in r]
    assert evals and evals[-1]["val_ppl"] == pytest.approx(math.exp(evals[-1]["val_loss"]))
    assert evals[-1]["val_bpc"] == pytest.approx(evals[-1]["val_loss"] / math.log(2))
    assert summary["final_val_loss"] == evals[-1]["val_loss"]
    assert json.loads((run.path / "config.json").read_text())["max_steps"] == 3


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    tok = CharTokenizer.train(TEXT)
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    calls = {"n": 0}

    def poisoned(model, x, y):
        calls["n"] += 1
        loss = model(input_ids=x).logits.float().logsumexp(-1).mean()
        return loss * float("nan") if calls["n"] > 6 else loss     # steps 1..6 fine, then NaN

    trainer = Trainer(_tiny_gpt2(tok.vocab_size), _cfg(max_steps=10, eval_interval=0, checkpoint_interval=3),
                      run, _data(tok)[0], tokenizer=tok, loss_fn=poisoned)
    with pytest.raises(LabError, match="diverged at step 7") as err:
        trainer.fit()
    assert "step 6" in err.value.hint
    found = find_checkpoint(run.path)
    assert json.loads((found / "trainer_state.json").read_text())["step"] == 6


def test_max_time_stops_and_still_evaluates_and_saves(tmp_path):
    tok = CharTokenizer.train(TEXT)
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    summary = Trainer(_tiny_gpt2(tok.vocab_size), _cfg(max_steps=100000, max_time=0.5), run, *_data(tok),
                      tokenizer=tok).fit()
    assert summary["stopped_by"] == "max_time" and 0 < summary["steps"] < 100000
    assert summary["final_val_loss"] is not None
    assert find_checkpoint(run.path) is not None


def test_atomic_swap_survives_a_crash_between_renames(tmp_path):
    target = tmp_path / "checkpoint"
    for step in (1, 2):
        tmp = begin_atomic(target)
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step}))
        commit_atomic(target)
    assert json.loads((target / "trainer_state.json").read_text())["step"] == 2
    assert not (tmp_path / "checkpoint.tmp").exists() and not (tmp_path / "checkpoint.old").exists()
    target.rename(tmp_path / "checkpoint.old")     # as if killed after the first rename
    assert find_checkpoint(tmp_path).name == "checkpoint.old"


def test_bad_settings_fail_with_a_hint():
    with pytest.raises(LabError, match="min_lr"):
        TrainConfig(lr=1e-4, min_lr=1e-3).validate()
    with pytest.raises(LabError, match="schedule"):
        TrainConfig(schedule="step").validate()


@pytest.fixture
def ctrl_c_reaches_python():
    """A shell's background job starts with SIGINT ignored (and the trainer leaves it so): give it Python's
    handler."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _interrupting_loss(at_call: int):
    """causal LM loss that presses Ctrl-C (a real SIGINT) during micro-batch `at_call`."""
    import signal

    from llmlab.training import hf_causal_lm_loss

    calls = {"n": 0}

    def loss(model, x, y):
        calls["n"] += 1
        if calls["n"] == at_call:
            signal.raise_signal(signal.SIGINT)
        return hf_causal_lm_loss(model, x, y)
    return loss


def test_ctrl_c_saves_a_checkpoint_prints_the_resume_command_and_resumes(tmp_path, capsys,
                                                                         ctrl_c_reaches_python):
    import signal

    tok = CharTokenizer.train(TEXT)
    run = RunFolder(tmp_path / "run")
    command = f"llmlab charlm train --out {run.path} --resume"
    trainer = Trainer(_tiny_gpt2(tok.vocab_size), _cfg(max_steps=10, eval_interval=0), run, *_data(tok),
                      tokenizer=tok, loss_fn=_interrupting_loss(3), resume_command=command)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    err = capsys.readouterr().err
    found = find_checkpoint(run.path)
    assert found is not None
    state = json.loads((found / "trainer_state.json").read_text())
    assert state["step"] == 3                            # the step under way finished, then it stopped
    assert f"checkpoint saved in {run.path / 'checkpoint'}" in err and f"resume with: {command}" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler     # Ctrl-C means Ctrl-C again
    summary = Trainer(_tiny_gpt2(tok.vocab_size, seed=5), _cfg(max_steps=10, eval_interval=0), run,
                      *_data(tok),
                      tokenizer=tok).fit(resume=True)
    assert summary["resumed_from"] == 3 and summary["steps"] == 10
    assert sorted(_losses(run)) == list(range(1, 11))    # no step logged twice, none missing


def test_resume_with_nothing_to_resume_is_an_error(tmp_path):
    tok = CharTokenizer.train(TEXT)
    trainer = Trainer(_tiny_gpt2(tok.vocab_size), _cfg(max_steps=2), RunFolder(tmp_path / "empty"),
                      *_data(tok),
                      tokenizer=tok)
    with pytest.raises(LabError, match="nothing to resume") as err:
        trainer.fit(resume=True)
    assert "drop --resume" in err.value.hint
    assert not (tmp_path / "empty" / "checkpoint").exists()


class _Payload:
    """Unpickling this calls open(path, "w"): a stand-in for any code a tampered pickle could run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_data_position_is_json_and_a_tampered_pickle_does_not_run_on_resume(tmp_path):
    tok = CharTokenizer.train(TEXT)
    run = RunFolder(tmp_path / "run")
    Trainer(_tiny_gpt2(tok.vocab_size), _cfg(max_steps=3, eval_interval=0), run, *_data(tok),
            tokenizer=tok).fit()
    checkpoint = find_checkpoint(run.path)
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["data"]["cursor"] == 3                  # 3 steps x 1 micro-batch, as plain JSON
    assert not list(checkpoint.rglob("custom_checkpoint_*"))
    marker = tmp_path / "pwned"
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl"):
        torch.save(_Payload(marker), checkpoint / "trainer" / name)
    summary = Trainer(_tiny_gpt2(tok.vocab_size), _cfg(max_steps=5, eval_interval=0), run, *_data(tok),
                      tokenizer=tok).fit(resume=True)
    assert not marker.exists()
    assert summary["resumed_from"] == 3 and summary["steps"] == 5
