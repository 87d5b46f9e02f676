"""The roadmap steps of agents, attention, charlm, finetune and pretrain, run end to end at their smoke size.

`StepContext.smoke` shrinks a step to seconds (a few training steps, a few questions), so its models are
barely trained and its quality checks may fail: these tests ask only that the step ran through, and hold what
it wrote to a fact recomputed here with the reference libraries (transformers, torch, safetensors, plain
Python), never to the step's own `checks`.
"""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llmlab.projects import project
from llmlab.roadmap.runner import FAILED, PASSED, run_step


def smoke_run(key, tmp_path):
    """The step's summary; the step must have run to the end (only its checks may fail)."""
    result = run_step(project(key), tmp_path, quick=True, smoke=True, log=lambda s: None)
    assert result.status in (PASSED, FAILED) and result.mode == "smoke"
    assert not result.error or result.error.startswith("checks failed"), result.error
    assert result.summary["checks"]
    return result.summary, tmp_path / key


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_agents_step_val_loss_and_accuracy_recomputed(tmp_path):
    from transformers import AutoModelForCausalLM

    from llmlab.agents.toy import ToyPreset, TraceBatches, held_out_questions, toy_tokenizer
    from llmlab.training.batches import IGNORE_INDEX

    summary, out = smoke_run("agents", tmp_path)
    # the checkpoint is the trained model: its loss on the validation traces, computed here, is the last eval
    cfg = ToyPreset(**read_json(out / "config.json"))
    held = {q for qs in held_out_questions(cfg).values() for q, _ in qs}
    val = TraceBatches(toy_tokenizer(), cfg, held, stream=1)
    model = AutoModelForCausalLM.from_pretrained(out / "checkpoint").eval()
    with torch.no_grad():
        losses = [F.cross_entropy(model(x).logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX)
                  for x, y in (val.eval_batch(i) for i in range(4))]   # the toy trainer's eval_iters
    assert float(torch.stack(losses).mean()) == pytest.approx(summary["final_val_loss"], abs=1e-4)
    # the accuracy with the tool, recounted from the transcript against Python's own arithmetic
    ends = [
        json.loads(line) for line in (out / "transcript.jsonl").read_text().splitlines() if '"end"' in line
    ]
    assert len(ends) == sum(r["questions"] for r in summary["by_digits"])
    right = sum(e["answer"] == str(eval(e["question"], {"__builtins__": {}})) for e in ends)
    assert right / len(ends) == pytest.approx(summary["with_tool_accuracy"])


def test_attention_step_previous_token_head_recomputed(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmlab.attention.roadmap_step import REPEATED

    summary, out = smoke_run("attention", tmp_path)
    directory = out / "emergence" / "checkpoint"      # the attention-only toy that show looked at
    ids = AutoTokenizer.from_pretrained(directory)(REPEATED, return_tensors="pt").input_ids
    assert ids.shape[1] == len(REPEATED)
    model = AutoModelForCausalLM.from_pretrained(directory, attn_implementation="eager").eval()
    with torch.no_grad():
        probs = torch.stack(model(ids, output_attentions=True).attentions)[:, 0]       # (L, H, T, T)
    t = probs.shape[-1]
    previous = probs[..., torch.arange(1, t), torch.arange(t - 1)].mean(-1)          # (L, H): weight on i - 1
    layer, head = divmod(int(previous.argmax()), previous.shape[1])
    best = summary["best_previous_token_head"]
    assert (best["layer"], best["head"]) == (layer, head)
    assert best["score"] == pytest.approx(float(previous[layer, head]), abs=1e-4)


def test_charlm_step_greedy_text_and_perplexities_recomputed(tmp_path):
    from llmlab.charlm.models import load_charlm

    summary, out = smoke_run("charlm", tmp_path)
    model, tok = load_charlm(out / summary["best_model"])
    rows = {r["strategy"]: r for r in summary["decoding"]}
    prompt = tok.encode("The ")
    for strategy in ("greedy", "beam", "sample"):
        new = tok.encode(rows[strategy]["text"])
        ids = torch.tensor([prompt + new])
        with torch.no_grad():       # one forward over the whole text, not the decoders' step-by-step state
            logits = model(ids)
            logits = (logits[0] if isinstance(logits, tuple) else logits.logits)[0, len(prompt) - 1:-1]
        nll = F.cross_entropy(logits, torch.tensor(new))
        assert math.exp(float(nll)) == pytest.approx(rows[strategy]["perplexity"], rel=1e-4)
        if strategy == "greedy":    # every greedy token is the most likely one after what came before
            assert logits.argmax(-1).tolist() == new


def test_finetune_step_merged_models_equal_base_plus_ba(tmp_path):
    from safetensors.torch import load_file

    summary, out = smoke_run("finetune", tmp_path)
    base = load_file(out / "base" / "run" / "checkpoint" / "model.safetensors")
    for method in ("lora", "lora-scratch"):
        config = read_json(out / method / "adapter" / "adapter_config.json")
        adapter = load_file(out / method / "adapter" / "adapter_model.safetensors")
        merged = load_file(out / method / "model" / "model.safetensors")
        scale = config["lora_alpha"] / config["r"]
        adapted = 0
        for name, weight in merged.items():
            key = "base_model.model." + name.removesuffix(".weight")
            if key + ".lora_A.weight" in adapter:
                a, b = adapter[key + ".lora_A.weight"], adapter[key + ".lora_B.weight"]   # (r, in), (out, r)
                assert b.abs().max() > 0, f"{method}: {name}'s B never left zero"
                # GPT-2's Conv1D stores W as (in, out): the merged weight is W + scale (B A)^T
                torch.testing.assert_close(weight, base[name] + scale * (b @ a).T, atol=1e-5, rtol=1e-5)
                adapted += 1
            else:
                assert torch.equal(weight, base[name]), f"{method}: {name} is not a LoRA target but changed"
        assert adapted == sum(k.endswith("lora_A.weight") for k in adapter) > 0


def test_pretrain_step_val_loss_and_unigram_baseline_recomputed(tmp_path):
    from transformers import AutoModelForCausalLM

    from llmlab.data.shards import TokenShards, open_shard, shard_paths
    from llmlab.pretrain.train import shard_windows

    summary, out = smoke_run("pretrain", tmp_path)
    data, train = out / "data", read_json(out / "run" / "config.json")["train"]
    block = read_json(out / "run" / "config.json")["model"]["block_size"]
    # the saved checkpoint scores the trainer's eval windows at the final val loss the step reports
    val = shard_windows(data, "val", block, train["batch_size"], train["seed"])
    model = AutoModelForCausalLM.from_pretrained(out / "run" / "checkpoint").eval()
    with torch.no_grad():
        losses = [F.cross_entropy(model(x).logits.flatten(0, 1), y.flatten())
                  for x, y in (val.eval_batch(i) for i in range(train["eval_iters"]))]
    assert float(torch.stack(losses).mean()) == pytest.approx(summary["final_val_loss"], abs=1e-4)
    # the unigram baseline: the val tokens' cross-entropy under add-one train-token frequencies
    tokens = {split: np.concatenate([np.asarray(open_shard(p), dtype=np.int64) for p in shard_paths(data,
                                                                                                    split)])
              for split in ("train", "val")}
    counts = np.bincount(tokens["train"], minlength=TokenShards(data, "train").vocab_size) + 1.0
    expected = -np.log(counts / counts.sum())[tokens["val"]].mean()
    assert summary["unigram_val_loss"] == pytest.approx(expected, abs=1e-4)
