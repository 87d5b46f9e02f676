"""Project 5, the local chatbot: own int8 quantisation, context-window logic, persistent memory, a Gradio UI
and a terminal REPL, all on the `llmlab.llm` client. See docs/chat.md.

    llmlab chat ui --model hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0 --quantize int8
    llmlab chat repl --model runs/pretrain/tiny --session notes
"""
