"""Character-level language models (vanilla RNN, LSTM, GRU, GPT-style Transformer) on `llmlab.training`.

    llmlab charlm train --arch lstm --corpus python-docs --out runs/charlm/lstm
    llmlab charlm compare-decoding --model runs/charlm/lstm --prompt "def "
See docs/charlm.md.
"""
