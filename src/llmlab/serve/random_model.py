"""Randomly initialised Hugging Face model directories (GPT-2 or Llama shape) with a tokenizer, for the tests,
the roadmap step and the benchmarks, which must run offline.

    make_model_dir("/tmp/tiny", family="gpt2", n_layer=2, n_embd=64)
    make_model_dir("/tmp/gpt2-124m", preset="gpt2-124m", tokenizer="bpe")   # GPT-2's shape, random weights

The tokenizer is llmlab's CharTokenizer trained on `text`, or a byte-level BPE (the `tokenizers` library)
when multi-byte characters must split across tokens.
"""

from __future__ import annotations

from pathlib import Path

PRESETS = {
    "tiny": dict(n_layer=2, n_embd=64, n_head=4, n_positions=256),
    "small": dict(n_layer=4, n_embd=256, n_head=4, n_positions=1024),
    "gpt2-124m": dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=50257),
}
SAMPLE_TEXT = ("The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs!\n"
               "0123456789 ,.;:?!'\"()[]{}<>|/\\-_=+*&^%$#@~` héllo wörld — naïve café, 日本語, emoji 😀\n")


def byte_bpe_tokenizer(text: str, vocab_size: int = 300):
    """A GPT-2-style byte-level BPE fast tokenizer trained on `text` (every byte is a token, so any text
    encodes)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([text], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   clean_up_tokenization_spaces=False)


def make_model_dir(out: str | Path, family: str = "gpt2", preset: str = "tiny", tokenizer: str = "char",
                   text: str = SAMPLE_TEXT, seed: int = 0, init_std: float = 0.2, bpe_vocab: int = 300,
                   **overrides) -> Path:
    """Write config.json, weights and tokenizer files into `out`; overrides change the preset's shape.

    init_std is larger than GPT-2's 0.02 so a random model's logits are spread out and greedy choices are
    not near-ties (the parity tests compare argmaxes)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    from llmlab.errors import LabError
    from llmlab.tokenizer.char import CharTokenizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if preset not in PRESETS:
        raise LabError(f"unknown model preset {preset!r}", hint="choose one of " + ", ".join(PRESETS))
    shape = {**PRESETS[preset], **overrides}
    if tokenizer == "char":
        tok = CharTokenizer.train(text)
        tok.save(out)
        n_tok = tok.vocab_size
    elif tokenizer == "bpe":
        hf_tok = byte_bpe_tokenizer(text, bpe_vocab)
        hf_tok.save_pretrained(str(out))
        n_tok = len(hf_tok)
    else:
        raise LabError(f"unknown tokenizer kind {tokenizer!r}", hint="use char or bpe")
    vocab = max(shape.pop("vocab_size", n_tok), n_tok)
    torch.manual_seed(seed)
    if family == "gpt2":
        cfg = GPT2Config(vocab_size=vocab, initializer_range=init_std, bos_token_id=None, eos_token_id=None,
                         **shape)
        model = GPT2LMHeadModel(cfg)
    elif family == "llama":
        cfg = LlamaConfig(vocab_size=vocab, hidden_size=shape["n_embd"], num_hidden_layers=shape["n_layer"],
                          num_attention_heads=shape["n_head"], num_key_value_heads=shape.get("n_kv_head", 2),
                          intermediate_size=shape.get("n_inner", 2 * shape["n_embd"]),
                          max_position_embeddings=shape["n_positions"], initializer_range=init_std,
                          bos_token_id=None, eos_token_id=None, pad_token_id=None, tie_word_embeddings=False)
        model = LlamaForCausalLM(cfg)
    else:
        raise LabError(f"unknown model family {family!r}", hint="use gpt2 or llama")
    model.eval()
    model.save_pretrained(str(out))
    return out
