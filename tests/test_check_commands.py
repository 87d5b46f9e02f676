"""The checks a learner runs by hand, `llmlab transformer check` and `llmlab finetune parity`, pass on
llmlab's code and fail (non-zero exit, the failing row named) when one layer is wrong."""

import json

from llmlab.cli import main


def test_transformer_check_passes_and_fails_on_a_wrong_gelu_backward(tmp_path, capsys, monkeypatch):
    assert main(["transformer", "check", "--json", "--out", str(tmp_path / "ok")]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows and all(r["passed"] for r in rows)
    assert {"gradients vs PyTorch autograd (float64, relative)"} <= {r["check"] for r in rows}

    from llmlab.numpy_transformer import activations, reference

    right = activations.GELU.backward
    monkeypatch.setattr(activations.GELU, "backward", lambda self, dy: 1.01 * right(self, dy))   # 1% off
    monkeypatch.setattr(reference, "reference_checks", lambda seed: [])   # the layer rows are enough here
    assert main(["transformer", "check", "--json", "--out", str(tmp_path / "bad")]) == 1
    failed = [r["check"] for r in json.loads(capsys.readouterr().out)["rows"] if not r["passed"]]
    assert any("GELU" in name for name in failed), failed


def test_finetune_parity_passes_and_fails_on_a_wrong_lora_scaling(capsys, monkeypatch):
    assert main(["finetune", "parity", "--json", "--steps", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True

    from llmlab.finetune import lora

    right = lora.LoRALinear.forward

    def scaled_twice(self, x):    # the classic slip: alpha / r applied on top of an already scaled update
        out = self.base(x)
        return out + 2 * (right(self, x) - out)

    monkeypatch.setattr(lora.LoRALinear, "forward", scaled_twice)
    assert main(["finetune", "parity", "--json", "--steps", "2"]) != 0
    assert "differs from PEFT" in capsys.readouterr().err
