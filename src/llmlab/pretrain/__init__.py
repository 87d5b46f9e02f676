"""Project 8: pretrain a GPT (124M, or tiny on a CPU) on cleaned, de-duplicated token shards with the shared
training loop, through accelerate on one device, DDP, FSDP or DeepSpeed. See docs/pretrain.md.

    llmlab data prepare --corpus python-stdlib --tokenizer TOK --out data/stdlib
    llmlab pretrain train --preset gpt2-124m --data data/stdlib --out runs/pretrain/124m
"""
