"""llmlab's LoRA vs PEFT's LoRA: time of one training step (forward, backward, AdamW) on the same random
GPT-2.

    python benchmarks/finetune.py            # a 4-layer, width-256 GPT-2 (vocabulary 4096) on the CPU
    python benchmarks/finetune.py --gpt2     # GPT-2 small's shape (124M; use a GPU or be patient)

Both models get LoRA on c_attn, c_proj and c_fc (r 8, alpha 16, dropout 0.05); the steps are interleaved
(ours, PEFT's, ours, ...) and the median of the per-pair ratios is printed, so a busy machine shifts
both sides alike.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch


def main() -> None:
    from peft import get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    from llmlab.finetune.lora import add_lora
    from llmlab.finetune.parity import peft_lora_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpt2", action="store_true", help="GPT-2 small's shape (12 layers, width 768)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--block", type=int, default=128)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shape = dict(n_layer=12, n_embd=768, n_head=12) if args.gpt2 else dict(n_layer=4, n_embd=256, n_head=4)
    torch.manual_seed(0)
    vocab = 50257 if args.gpt2 else 4096   # a small vocabulary keeps the lm_head from hiding the LoRA layers
    base = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=1024, bos_token_id=0, eos_token_id=0,
                                      **shape))
    targets = ["c_attn", "c_proj", "c_fc"]
    theirs = get_peft_model(copy.deepcopy(base), peft_lora_config(base, targets, 8, 16.0, 0.05)).to(device)
    ours = copy.deepcopy(base)
    add_lora(ours, targets, 8, 16.0, 0.05)
    ours.to(device)
    ids = torch.randint(0, vocab, (args.batch, args.block), device=device)

    def stepper(model):
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        model.train()

        def step() -> float:
            start = time.perf_counter()
            model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start
        return step

    step_ours, step_theirs = stepper(ours), stepper(theirs)
    for _ in range(2):          # warm-up: allocator, kernels, lazy imports
        step_ours(), step_theirs()
    pairs = [(step_ours(), step_theirs()) for _ in range(args.repeats)]
    ours_ms = statistics.median(a for a, _ in pairs) * 1e3
    theirs_ms = statistics.median(b for _, b in pairs) * 1e3
    ratio = statistics.median(a / b for a, b in pairs)
    print(f"{'model':<28}{'device':<8}{'llmlab ms':>11}{'PEFT ms':>10}{'llmlab / PEFT':>15}")
    name = f"gpt2 {shape['n_layer']}x{shape['n_embd']} V{vocab}, {args.batch}x{args.block}"
    print(f"{name:<28}{device:<8}{ours_ms:>11.1f}{theirs_ms:>10.1f}{ratio:>15.3f}")


if __name__ == "__main__":
    main()
