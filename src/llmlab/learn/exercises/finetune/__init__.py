"""Stubs of project 4, fine-tuning GPT-2: a LoRA layer around GPT-2's Conv1D (and nn.Linear), counting
trainable parameters."""
