"""Character-level language models (vanilla RNN, LSTM, GRU, GPT-style Transformer) on `llmlab.training`.

    llmlab charlm train --model lstm --corpus python-docs --out runs/charlm/lstm
    llmlab charlm compare-decoding --model-dir runs/charlm/lstm --prompt "def "
See docs/charlm.md.
"""
