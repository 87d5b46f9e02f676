"""Exports of a trained `BPETokenizer`: a Hugging Face tokenizer (tokenizer.json) and a tiktoken Encoding.

HF: a `BPE` model whose vocabulary spells each token's bytes with GPT-2's stand-in characters
("Ġthe"), the merges in learned order, and the pre-tokenizer `Split(pattern) -> ByteLevel`, the
arrangement Llama 3's tokenizer.json uses for a pattern other than GPT-2's. tiktoken: the ranks are
{token bytes: id}; tiktoken merges the adjacent pair whose concatenation has the lowest rank, which
for a vocabulary learned by BPE gives the same ids as merging by merge rank (tested on whole corpora).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmlab.tokenizer.byte_alphabet import to_chars

if TYPE_CHECKING:
    from llmlab.tokenizer.bpe import BPETokenizer


def hf_tokenizer(tok: BPETokenizer) -> Any:
    """A `tokenizers.Tokenizer` (what tokenizer.json holds) that encodes and decodes as `tok` does."""
    from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer

    from llmlab.errors import LabError

    vocab = {to_chars(data): i for i, data in enumerate(tok.vocab)}
    for token in tok.special_tokens:
        if token in vocab:   # tokenizer.json has one namespace for both
            raise LabError(f"the special token {token!r} is spelled like the learned token {vocab[token]}, "
                           "so tokenizer.json cannot hold both",
                           hint="pick a special-token text that never occurs in the training text")
    vocab.update(tok.special_tokens)      # specials live in the vocab too, at their own ids
    merges = [(to_chars(tok.vocab[a]), to_chars(tok.vocab[b])) for a, b, _ in tok.merges]
    hf = HFTokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(tok.pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    hf.decoder = decoders.ByteLevel()
    if tok.special_tokens:
        hf.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in tok.special_tokens])
    return hf


def hf_fast_tokenizer(tok: BPETokenizer) -> Any:
    """`transformers.PreTrainedTokenizerFast` around `hf_tokenizer(tok)`; `<|endoftext|>`, when present,
    is the bos and eos token, as in GPT-2."""
    from transformers import PreTrainedTokenizerFast

    from llmlab.tokenizer.bpe import EOT

    extra = {"bos_token": EOT, "eos_token": EOT} if EOT in tok.special_tokens else {}
    return PreTrainedTokenizerFast(tokenizer_object=hf_tokenizer(tok), clean_up_tokenization_spaces=False,
                                   **extra)


def tiktoken_encoding(tok: BPETokenizer, name: str | None = None) -> Any:
    import tiktoken

    return tiktoken.Encoding(
        name=name or f"llmlab-bpe-{tok.vocab_size}",
        pat_str=tok.pattern,
        mergeable_ranks={data: i for i, data in enumerate(tok.vocab)},
        special_tokens=tok.special_tokens,
    )
