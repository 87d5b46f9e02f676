"""Special tokens that overlap, the case mutation testing (`make mutation`) found untested."""

from llmlab.tokenizer import BPETokenizer


def test_a_special_token_that_starts_another_does_not_shadow_it():
    tok = BPETokenizer.train("hello world, hello tokens " * 10, vocab_size=270,
                             special_tokens=["<|end", "<|endoftext|>"])
    end, eot = tok.special_tokens["<|end"], tok.special_tokens["<|endoftext|>"]
    assert tok.encode("a<|endoftext|>b<|end", allowed_special="all") == [
        *tok.encode_ordinary("a"), eot, *tok.encode_ordinary("b"), end]
