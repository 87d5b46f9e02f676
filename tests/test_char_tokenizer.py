from transformers import AutoTokenizer

from llmlab.tokenizer import CharTokenizer, load_tokenizer


def test_roundtrip_and_unknown_characters():
    tok = CharTokenizer.train("hello world\n")
    ids = tok.encode("hello\nworld")
    assert tok.decode(ids) == "hello\nworld"
    assert tok.encode("hé")[1] == tok.unk_id
    assert tok.vocab_size == len(set("hello world\n")) + 1


def test_hf_export_matches_ids_and_decodes_without_spaces(tmp_path):
    text = "To be, or not to be:\nthat is the question.  "
    tok = CharTokenizer.train(text)
    tok.save(tmp_path)
    hf = AutoTokenizer.from_pretrained(tmp_path)
    assert hf.encode(text, add_special_tokens=False) == tok.encode(text)
    assert hf.decode(tok.encode(text)) == text
    assert load_tokenizer(tmp_path).encode(text) == tok.encode(text)
