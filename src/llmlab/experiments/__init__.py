"""Chain-of-thought and in-context-learning experiments: a harness for any `llmlab.llm` model and offline
reproductions on tiny transformers trained here. See docs/cot.md and docs/icl.md.

    llmlab cot run --model hf:Qwen/Qwen2.5-0.5B-Instruct --tasks arithmetic --n 50
    llmlab icl run --model hf:Qwen/Qwen2.5-0.5B-Instruct --shots 0,1,2,4,8
    llmlab cot train / llmlab icl train      # the offline reproductions (CPU, seconds)
"""
