"""Graders of project 4: the LoRA layer against PEFT's LoRA (llmlab.finetune.parity, the proof llmlab's own
LoRA passes) plus its initial state and merge/unmerge worked by hand; the parameter count against PEFT's.

Tiny random GPT-2s on one CPU thread, every case seeded, so a verdict never changes between runs.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from unittest import mock

from llmlab.learn.grading import Mismatch, check_close, check_equal

TARGETS = ["c_attn", "c_proj", "c_fc"]


@contextlib.contextmanager
def _quiet_one_thread():
    from llmlab.finetune.run import cpu_threads

    with cpu_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def tiny_gpt2(seed: int = 0):
    """A random GPT-2 (vocab 64, width 32, 2 layers) with the tied head every GPT-2 has."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                                      bos_token_id=0, eos_token_id=0)).eval()


def _bases(torch, dtype):
    """A GPT-2 Conv1D (in 64, out 48) and an nn.Linear of the same shape, with weights far from zero."""
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(1)
    conv, lin = Conv1D(48, 64), torch.nn.Linear(64, 48)
    with torch.no_grad():
        for layer in (conv, lin):
            layer.weight.normal_(0.0, 0.5)
            layer.bias.normal_(0.0, 0.1)
    return (("GPT-2 Conv1D(nf=48, nx=64), weight (in 64, out 48)", conv.to(dtype)),
            ("nn.Linear(64, 48), weight (out 48, in 64)", lin.to(dtype)))


def _grade_init(ns, torch) -> None:
    from llmlab.errors import LabError

    for what, base in _bases(torch, torch.float32):
        torch.manual_seed(2)
        layer = ns.LoRALinear(base, r=8, alpha=16.0)
        what = f"LoRALinear({what}, r=8, alpha=16)"
        for name in ("lora_A", "lora_B"):
            if not isinstance(getattr(layer, name, None), torch.nn.Parameter):
                raise Mismatch(f"{what}: self.{name} must be an nn.Parameter (PEFT's factors are copied into "
                               f"it)")
        check_equal(f"{what}: lora_A's shape (r, in)", tuple(layer.lora_A.shape), (8, 64))
        check_equal(f"{what}: lora_B's shape (out, r)", tuple(layer.lora_B.shape), (48, 8))
        if any(p.requires_grad for p in base.parameters()):
            raise Mismatch(f"{what}: the base layer still trains — set requires_grad_(False) on its "
                           f"parameters")
        trains = {id(p) for p in layer.parameters() if p.requires_grad}
        if trains != {id(layer.lora_A), id(layer.lora_B)}:
            raise Mismatch(f"{what}: exactly lora_A and lora_B must train; {len(trains)} parameter(s) train")
        check_close(f"{what}: self.scaling", getattr(layer, "scaling", None), 2.0, 1e-12,
                    "alpha / r = 16 / 8")
        if bool(layer.lora_B.detach().abs().max() > 0):
            raise Mismatch(f"{what}: lora_B must start at zero (the wrapped layer starts equal to the base "
                           f"one), "
                           f"got max |B| {float(layer.lora_B.abs().max()):.3g}")
        bound, a = 1 / math.sqrt(64), layer.lora_A.detach().abs()
        mean = float(a.mean())
        if float(a.max()) > bound * (1 + 1e-6) or not 0.4 * bound < mean < 0.6 * bound:
            raise Mismatch(f"{what}: lora_A should be Kaiming-uniform with a = √5, U(-1/√in, 1/√in) = "
                           f"U(-{bound:.4f}, {bound:.4f}) (mean |A| ≈ {bound / 2:.4f}); got max |A| "
                           f"{float(a.max()):.4f}, mean |A| {mean:.4f}")
        x = torch.randn(3, 5, 64)
        with torch.no_grad():
            check_close(f"{what}: forward at init (B = 0, so it must equal base(x))", layer(x), base(x), 1e-6,
                        "x (3, 5, 64)")
    try:
        ns.LoRALinear(_bases(torch, torch.float32)[0][1], r=0)
    except LabError:
        pass
    else:
        raise Mismatch("LoRALinear(base, r=0) must raise a LabError (a rank below 1 has no update; alpha / "
                       "0)")


def _grade_by_hand(ns, torch) -> None:
    """float64, B random: the forward, delta_weight, merge (twice), unmerge, against the formulas."""
    for what, base in _bases(torch, torch.float64):
        conv = not isinstance(base, torch.nn.Linear)
        torch.manual_seed(3)
        layer = ns.LoRALinear(base, r=4, alpha=6.0)
        with torch.no_grad():
            layer.lora_B.normal_(0.0, 0.3)
        A, B, s = layer.lora_A.detach().clone(), layer.lora_B.detach().clone(), 6.0 / 4
        W, b = base.weight.detach().clone(), base.bias.detach().clone()
        x = torch.randn(2, 3, 64, dtype=torch.float64)
        y_base = x @ W + b if conv else x @ W.T + b                   # (2, 3, 48)
        expected = y_base + s * (x @ A.T) @ B.T
        what = f"LoRALinear({what}, r=4, alpha=6), B random, float64"
        with torch.no_grad():
            check_close(f"{what}: forward", layer(x), expected, 1e-10,
                        "x (2, 3, 64); y = base(x) + (alpha/r) x Aᵀ Bᵀ")
            delta = s * B @ A                                         # (out, in)
            check_close(f"{what}: delta_weight() — shaped like base.weight", layer.delta_weight(),
                        delta.T if conv else delta, 1e-12, "(alpha / r) B A, transposed for Conv1D")
            layer.merge()
            check_close(f"{what}: base.weight after merge()", base.weight, W + (delta.T if conv else delta),
                        1e-12,
                        "W + (alpha/r) (B A)ᵀ for Conv1D, W + (alpha/r) B A for nn.Linear")
            check_close(f"{what}: forward after merge() (one matmul, the same result)", layer(x), expected,
                        1e-10)
            layer.merge()
            check_close(f"{what}: base.weight after a second merge() (it must change nothing)", base.weight,
                        W + (delta.T if conv else delta), 1e-12)
            layer.unmerge()
            check_close(f"{what}: base.weight after unmerge() (W again)", base.weight, W, 1e-12)
            check_close(f"{what}: forward after unmerge()", layer(x), expected, 1e-10)


def _grade_against_peft(ns) -> None:
    import llmlab.finetune.lora as lora
    from llmlab.finetune.parity import lora_peft_parity

    # llmlab's add_lora, lora_layers and merge_lora build and find *your* class for the length of the check
    with mock.patch.object(lora, "LoRALinear", ns.LoRALinear):
        report = lora_peft_parity(tiny_gpt2(), TARGETS, r=4, alpha=8.0, dropout=0.1, steps=3, seed=0)
    if report["passed"]:
        return
    words = {"forward": "logits and loss", "grad_A": "gradient of A", "grad_B": "gradient of B",
             "losses": "losses of 3 AdamW steps", "merged_weights": "merged weights vs merge_and_unload()",
             "unmerge_roundtrip": "weights after merge then unmerge vs before"}
    lines = [f"{words[k]}: max |yours - PEFT's| {report['max_abs_diff'][k]:.3g} > tolerance "
             f"{report['tolerance'][k]:g}"
             for k, ok in report["checks"].items() if not ok]
    raise Mismatch("against PEFT's LoRA (a tiny random GPT-2, LoRA r=4 alpha=8 dropout=0.1 on c_attn, "
                   "c_proj, c_fc; "
                   "PEFT's A and B copied into yours):\n" + "\n".join(lines))


def grade_lora(ns) -> None:
    import torch

    with _quiet_one_thread():
        _grade_init(ns, torch)
        _grade_by_hand(ns, torch)
        _grade_against_peft(ns)


def _unique_count(model, trainable: bool) -> int:
    """Numbers in distinct storages (a tied tensor once), independently of how parameters are listed."""
    seen = {}
    for p in model.state_dict(keep_vars=True).values():
        if not trainable or p.requires_grad:
            seen[(p.data_ptr(), p.shape)] = p.numel()
    return sum(seen.values())


def grade_trainable(ns) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    with _quiet_one_thread():
        full = tiny_gpt2()
        frozen = copy.deepcopy(full)
        frozen.transformer.wte.weight.requires_grad_(False)         # tied: the head freezes with it
        frozen.transformer.ln_f.requires_grad_(False)
        peft = get_peft_model(copy.deepcopy(full), LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS,
                                                             fan_in_fan_out=True, task_type="CAUSAL_LM"))
        cases = [("a tiny GPT-2 (tied head), everything trains", full,
                  (_unique_count(full, True), _unique_count(full, False))),
                 ("the same with the embedding (tied to the head) and ln_f frozen", frozen,
                  (_unique_count(frozen, True), _unique_count(frozen, False))),
                 ("the same with PEFT's LoRA r=4 on c_attn, c_proj, c_fc (PEFT's "
                  "get_nb_trainable_parameters)",
                  peft, peft.get_nb_trainable_parameters()),
                 ("a module without parameters (nn.ReLU())", torch.nn.ReLU(), (0, 0))]
        for what, model, (trainable, total) in cases:
            got = ns.trainable_parameters(model)
            if not isinstance(got, dict):
                raise Mismatch(f"trainable_parameters ({what}): return a dict, got {type(got).__name__}")
            expected = {"trainable_params": trainable, "total_params": total,
                        "trainable_share": round(trainable / total, 6) if total else 0.0}
            check_equal("trainable_parameters", {k: got.get(k) for k in expected}, expected, what)
