"""One client interface for anything that generates text (`complete`, `stream`, `chat`, `count_tokens`,
`context_window`), with backends chosen by a string: engine:, hf:, gguf:, openai:. See docs/llm.md.

    from llmlab.llm import load_llm
    llm = load_llm("engine:runs/pretrain/tiny")
    print(llm.chat([{"role": "user", "content": "Hello"}]).text)
"""

from llmlab.llm.base import LLM, Completion, ContextWindowError, Delta, Message, check_messages
from llmlab.llm.registry import load_llm, parse_spec
from llmlab.tokenizer.chat_template import render_chat

__all__ = ["LLM", "Completion", "ContextWindowError", "Delta", "Message", "check_messages", "load_llm",
           "parse_spec", "render_chat"]
