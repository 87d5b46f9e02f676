"""Project 4: fine-tune GPT-2 on a domain corpus — PEFT LoRA and full fine-tuning through HF's Trainer, and
a LoRA written from scratch (lora.py) trained by llmlab's own loop and proven equal to PEFT's (parity.py).

    llmlab finetune train --model gpt2 --corpus python-docs --method lora --out runs/finetune/lora
See docs/finetune.md.
"""
