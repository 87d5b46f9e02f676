"""The three fine-tuning methods end to end on a tiny GPT-2 directory and a small local corpus folder."""

import json

import pytest
import torch

from llmlab.errors import LabError
from llmlab.finetune.presets import resolve

FAST = ["block_size=32", "val_blocks=8", "batch_size=4", "eval_interval=3", "log_interval=1",
        "warmup_steps=1",
        "sample_tokens=6", "r=4", "alpha=8"]


@pytest.fixture(scope="module")
def base_and_corpus(tmp_path_factory):
    """An HF model directory (random GPT-2 + a BPE trained on the corpus) and a folder of 20 documents."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from llmlab.data import load_corpus
    from llmlab.tokenizer.bpe import EOT, BPETokenizer
    from llmlab.training.checkpoint import save_model_dir

    root = tmp_path_factory.mktemp("finetune")
    docs = load_corpus("python-docs").documents[:20]
    corpus = root / "corpus"
    corpus.mkdir()
    for i, doc in enumerate(docs):
        (corpus / f"doc{i:02d}.txt").write_text(doc.text[:6000], encoding="utf-8")
    tok = BPETokenizer.train("\n".join(d.text for d in docs), vocab_size=300, special_tokens=[EOT],
                             progress=False)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=tok.vocab_size,
                                       n_positions=64,
                                       bos_token_id=tok.eot_id, eos_token_id=tok.eot_id))
    save_model_dir(model, root / "base", tokenizer=tok)
    return root / "base", corpus


def _finetune(method, base_and_corpus, out, steps=6, extra=(), overwrite=False):
    from llmlab.finetune.run import finetune

    base, corpus = base_and_corpus
    cfg = resolve("tiny", FAST + list(extra), method=method, max_steps=steps)
    return finetune(cfg, str(base), str(corpus), out, overwrite=overwrite)


def _load_and_generate(model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tok("The ", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.eos_token_id)
    assert out.shape[1] == ids.shape[1] + 5
    return model


@pytest.mark.slow
def test_peft_lora_through_hf_trainer_merges_into_a_plain_model(base_and_corpus, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from llmlab.finetune.data import domain_data
    from llmlab.finetune.evaluate import block_loss
    from llmlab.finetune.lora import LoRALinear

    s = _finetune("lora", base_and_corpus, tmp_path / "lora", steps=8)
    assert s["val_loss_after"] < s["val_loss_before"]
    assert 0 < s["trainable_share"] < 0.2
    rows = [json.loads(line) for line in (tmp_path / "lora" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_loss" in r] == [0, 3, 6, 8]
    assert sum("loss" in r for r in rows) == 8
    # HF Trainer's own eval of the last step = llmlab's block_loss of the merged model (labels[0] = -100 fix)
    assert rows[-1]["val_loss"] == pytest.approx(s["val_loss_after"], abs=1e-4)
    # the merged directory is a plain GPT-2 whose loss is the one the summary reports
    merged = _load_and_generate(s["model_dir"])
    assert not any(isinstance(m, LoRALinear) or "lora" in type(m).__name__.lower() for m in merged.modules())
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(s["model_dir"])
    data = domain_data(str(base_and_corpus[1]), tok, 32, 8)
    assert block_loss(merged, data.blocks("val"), 4) == pytest.approx(s["val_loss_after"], abs=1e-4)
    # the adapter alone, on the base model, gives the same model (PEFT merges it again)
    again = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_and_corpus[0]),
                                      s["adapter_dir"])
    again = again.merge_and_unload()
    for (name, p), (_, q) in zip(merged.named_parameters(), again.named_parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), name


def test_scratch_lora_on_llmlab_loop_and_its_adapter_loads_in_peft(base_and_corpus, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    s = _finetune("lora-scratch", base_and_corpus, tmp_path / "scratch", steps=8)
    assert s["val_loss_after"] < s["val_loss_before"]
    rows = [json.loads(line) for line in (tmp_path / "scratch" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 0 and rows[-1]["step"] == 8 and "val_loss" in rows[-1]
    assert (tmp_path / "scratch" / "loss.png").exists()
    config = json.loads((tmp_path / "scratch" / "config.json").read_text())
    assert config["finetune"]["method"] == "lora-scratch" and config["train"]["max_steps"] == 8
    assert config["data"]["block_size"] == 32
    merged = _load_and_generate(s["model_dir"])
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_and_corpus[0]),
                                     s["adapter_dir"])
    for (name, p), (_, q) in zip(merged.named_parameters(), peft.merge_and_unload().named_parameters(),
                                 strict=True):
        assert torch.allclose(p, q, atol=1e-6), name


def test_full_finetune_trains_every_weight_and_cli_prints_json(base_and_corpus, tmp_path):
    from typer.testing import CliRunner

    from llmlab.finetune.cli import app

    base, corpus = base_and_corpus
    args = ["train", "--model", str(base), "--corpus", str(corpus), "--method", "full", "--preset", "tiny",
            "--out", str(tmp_path / "full"), "--max-steps", "4", "--json"]
    for item in FAST:
        args += ["--set", item]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    s = json.loads(result.output[result.output.index("{"):])
    assert s["trainable_share"] == 1.0 and s["adapter_dir"] is None
    assert s["val_loss_after"] < s["val_loss_before"]
    _load_and_generate(s["model_dir"])


def test_presets_reject_bad_input():
    with pytest.raises(LabError, match="unknown method"):
        resolve("tiny", method="qlora")
    with pytest.raises(LabError, match="unknown preset"):
        resolve("huge")
    with pytest.raises(LabError, match="unknown setting"):
        resolve("tiny", ["rank=4"])
    assert resolve("cpu", ["r=16"], method="full").lr == resolve("cpu").lr_full


def test_compare_puts_the_methods_side_by_side(base_and_corpus, tmp_path):
    from llmlab.finetune.compare import compare_methods

    base, corpus = base_and_corpus
    s = compare_methods(str(base), str(corpus), tmp_path / "cmp", "tiny", FAST, ("lora-scratch", "full"),
                        max_steps=3)
    assert list(s["methods"]) == ["lora-scratch", "full"]
    assert s["methods"]["full"]["trainable_share"] == 1.0 > s["methods"]["lora-scratch"]["trainable_share"]
    before = {r["val_loss_before"] for r in s["methods"].values()}
    assert len(before) == 1                     # one base model, one set of validation blocks
    for picture in s["pictures"]:
        assert (tmp_path / "cmp" / picture).stat().st_size > 1000


def _run_files(out):
    """The previous run as bytes: metrics, summary, config and the saved weights."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_rerun_that_fails_at_the_save_leaves_the_previous_run_whole(base_and_corpus, tmp_path, monkeypatch):
    import llmlab.finetune.run as run_module

    out = tmp_path / "full"
    _finetune("full", base_and_corpus, out, steps=2)
    (out / "notes.txt").write_text("mine")
    before = _run_files(out)

    def disk_full(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(run_module, "save_model_dir", disk_full)
    with pytest.raises(OSError, match="disk full"):
        _finetune("full", base_and_corpus, out, steps=3, overwrite=True)
    assert _run_files(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["full"]          # nothing half-built beside it
    _load_and_generate(out / "model")


def test_sigkill_during_a_rerun_leaves_the_previous_run_loadable(base_and_corpus, tmp_path):
    from killed import run_killed

    out = tmp_path / "full"
    first = _finetune("full", base_and_corpus, out, steps=2)
    before = _run_files(out)
    base, corpus = base_and_corpus
    run_killed(f"""
        # metrics of the new run written; then the kill
        kill_on_call("llmlab.training.checkpoint", "save_model_dir")
        from test_finetune_train import FAST
        from llmlab.finetune.presets import resolve
        from llmlab.finetune.run import finetune
        finetune(resolve("tiny", FAST, method="full", max_steps=3), {str(base)!r}, {str(corpus)!r},
                 {str(out)!r}, overwrite=True)
    """)
    assert _run_files(out) == before
    assert json.loads((out / "summary.json").read_text())["val_loss_after"] == first["val_loss_after"]
    _load_and_generate(out / "model")
    # the next run tidies and replaces
    again = _finetune("full", base_and_corpus, out, steps=3, overwrite=True)
    assert again["steps"] == 3 and [p.name for p in tmp_path.iterdir()] == ["full"]
