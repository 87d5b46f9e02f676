"""The gguf: backend and the GGUF exporter, offline and without llama.cpp.

- A tiny Llama written to GGUF by llmlab (f32 / f16 / Q8_0) and read back by transformers' own GGUF loader:
the
  f32 file gives the float model's logits exactly, Q8_0 stays close, the tokenizer encodes the same ids.
- GGUFLLM(runtime="transformers") on that file chats exactly like HFLLM on the original directory.
- runtime="llama.cpp" without llama-cpp-python: a LabError that says how to install it.
- The llama.cpp adapter (token stream -> Deltas, stops, counts, the file's chat template) against a stand-in
  `llama_cpp.Llama` with llama-cpp-python's method names, backed by the same tiny model. llama.cpp itself is
  not exercised here (it is not installed on the test machine).
"""

import sys
import types

import pytest
import torch

from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.llm import load_llm

pytest.importorskip("gguf")

ZEPHYR = ("{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token "
          "+ '\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from llmlab.chat.gguf_export import export_gguf
    from llmlab.serve.random_model import make_model_dir

    root = tmp_path_factory.mktemp("gguf")
    model_dir = make_model_dir(root / "model", family="llama", preset="tiny", tokenizer="bpe")
    out = {"dir": model_dir}
    for kind in ("f32", "q8_0"):
        out[kind] = export_gguf(model_dir, root / "files" / f"tiny.{kind}.gguf", kind)
    return out


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


def test_transformers_reads_our_gguf(files):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref = AutoModelForCausalLM.from_pretrained(files["dir"]).eval()
    ref_tok = AutoTokenizer.from_pretrained(files["dir"])
    text = "The quick brown fox jumps over the lazy dog. héllo 日本語"
    ids = torch.tensor([ref_tok.encode(text)])
    f32 = files["f32"]
    model = AutoModelForCausalLM.from_pretrained(str(f32.parent), gguf_file=f32.name).eval()
    tok = AutoTokenizer.from_pretrained(str(f32.parent), gguf_file=f32.name)
    assert tok.encode(text) == ref_tok.encode(text)
    assert torch.equal(_logits(model, ids), _logits(ref, ids))       # the rope permutation undone exactly
    q8 = files["q8_0"]
    model8 = AutoModelForCausalLM.from_pretrained(str(q8.parent), gguf_file=q8.name).eval()
    a, b = _logits(ref, ids), _logits(model8, ids)
    assert 0 < (b - a).norm() / a.norm() < 0.06
    assert q8.stat().st_size < 0.35 * f32.stat().st_size


def test_rope_permutation_matches_transformers_inverse():
    import numpy as np
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    from llmlab.chat.gguf_export import permute_for_rope

    w = np.arange(8 * 16 * 3, dtype=np.float32).reshape(8 * 16, 3)      # 8 heads of 16 rows
    back = LlamaTensorProcessor()._reverse_permute_weights(permute_for_rope(w, 8), 8, 8)
    assert np.array_equal(back, w) and not np.array_equal(permute_for_rope(w, 8), w)


def test_transformers_runtime_chats_like_hf(files):
    gguf_llm = load_llm(f"gguf:{files['f32']}", runtime="transformers")
    hf_llm = load_llm(f"hf:{files['dir']}")
    messages = [{"role": "user", "content": "Pack my box with five dozen jugs"}]
    params = SamplingParams(temperature=0, max_new_tokens=10)
    assert gguf_llm.count_chat_tokens(messages) == hf_llm.count_chat_tokens(messages)
    assert gguf_llm.context_window == hf_llm.context_window == 256
    a, b = gguf_llm.chat(messages, params), hf_llm.chat(messages, params)
    assert (a.text, a.completion_tokens) == (b.text, b.completion_tokens)
    assert "".join(gguf_llm.chat_stream(messages, params)) == a.text


def test_missing_llama_cpp_and_bad_inputs(files, monkeypatch, tmp_path):
    # import fails whether or not it is installed
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(LabError) as info:
        load_llm(f"gguf:{files['q8_0']}")
    assert "llama-cpp-python" in info.value.message and "pip install" in info.value.hint
    with pytest.raises(LabError, match="no GGUF file"):
        load_llm(f"gguf:{tmp_path / 'missing.gguf'}")
    with pytest.raises(LabError, match="runtime"):
        load_llm(f"gguf:{files['q8_0']}", runtime="vllm")


# ---- the llama.cpp adapter against a stand-in with llama-cpp-python's API ----------------------------------


class StandInLlama:
    """llama_cpp.Llama's methods used by GGUFLLM (tokenize, detokenize, generate, token_eos/bos, n_ctx,
    metadata, set_seed), computed by a transformers model so the answers can be checked against the hf
    backend."""

    template = None

    def __init__(self, model_path, n_ctx=0, n_threads=None, n_gpu_layers=0, verbose=True, **kwargs):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.convert_slow_tokenizer import bytes_to_unicode

        self.source = StandInLlama.source
        self.model = AutoModelForCausalLM.from_pretrained(self.source).eval()
        self.tok = AutoTokenizer.from_pretrained(self.source)
        self._bytes = {c: b for b, c in bytes_to_unicode().items()}
        self._n_ctx = n_ctx or self.model.config.max_position_embeddings
        self.metadata = {"tokenizer.chat_template": self.template} if self.template else {}
        self.calls, self.steps = [], 0

    def tokenize(self, text: bytes, add_bos=True, special=False):
        assert isinstance(text, bytes)
        return ([] if not add_bos or self.token_bos() < 0 else [self.token_bos()]) + self.tok.encode(
            text.decode()
        )

    def detokenize(self, tokens, prev_tokens=None, special=False) -> bytes:
        out = b""
        for t in tokens:
            piece = self.tok.convert_ids_to_tokens(t)
            if t in self.tok.all_special_ids:
                out += piece.encode() if special else b""
            else:
                out += bytes(self._bytes[c] for c in piece)
        return out

    def token_eos(self):
        return self.tok.eos_token_id

    def token_bos(self):
        return -1                       # this vocabulary has no BOS, which llama.cpp reports as -1

    def n_ctx(self):
        return self._n_ctx

    def set_seed(self, seed):
        self.seed = seed

    def generate(self, tokens, top_k=40, top_p=0.95, min_p=0.05, temp=0.8, repeat_penalty=1.0, reset=True,
                 **kw):
        self.calls.append(dict(top_k=top_k, top_p=top_p, min_p=min_p, temp=temp,
                               repeat_penalty=repeat_penalty))
        ids = list(tokens)
        # greedy, like llama.cpp at temp 0; endless, like llama.cpp's generate
        while True:
            with torch.no_grad():
                nxt = int(self.model(torch.tensor([ids])).logits[0, -1].argmax())
            ids.append(nxt)
            self.steps += 1
            yield nxt


@pytest.fixture
def stand_in(files, monkeypatch):
    StandInLlama.source, StandInLlama.template = str(files["dir"]), None
    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(Llama=StandInLlama))
    return StandInLlama


def test_llama_cpp_adapter_matches_hf_backend(files, stand_in):
    llm = load_llm(f"gguf:{files['q8_0']}", n_ctx=128)
    hf_llm = load_llm(f"hf:{files['dir']}")
    assert llm.context_window == 128
    for prompt in ("The quick brown fox", "héllo wörld 日本語 😀"):
        params = SamplingParams(temperature=0, max_new_tokens=12)
        a, b = llm.complete(prompt, params), hf_llm.complete(prompt, params)
        assert (a.text, a.finish_reason, a.prompt_tokens, a.completion_tokens) == \
               (b.text, b.finish_reason, b.prompt_tokens, b.completion_tokens)
        assert "".join(llm.stream(prompt, params)) == a.text
    llm.llama.steps = 0
    llm.complete("The quick brown fox", SamplingParams(temperature=0, max_new_tokens=5))
    assert llm.llama.steps == 5                   # the endless generator is not run one step past the limit
    assert llm.complete("The quick brown fox", SamplingParams(temperature=0, max_new_tokens=0)).text == ""
    assert llm.llama.calls[-1] == dict(top_k=0, top_p=1.0, min_p=0.0, temp=0, repeat_penalty=1.0)
    # a stop string cuts the text, as on every backend
    full = llm.complete("The quick brown fox", SamplingParams(temperature=0, max_new_tokens=12)).text
    cut = full[3:6]
    stopped = llm.complete("The quick brown fox", SamplingParams(temperature=0, max_new_tokens=12, stop=(cut,
                                                                                                         )))
    assert stopped.finish_reason == "stop" and stopped.text == full[: full.index(cut)]
    # the end-of-text token ends the answer, and so does a stop token id
    first = next(llm.llama.generate(llm.tokenizer.encode("The quick brown fox"), temp=0))
    ended = llm.complete("The quick brown fox", SamplingParams(temperature=0, max_new_tokens=12,
                                                              stop_token_ids=(first,)))
    assert (ended.text, ended.finish_reason, ended.completion_tokens) == ("", "stop", 1)


def test_llama_cpp_adapter_uses_the_files_chat_template(files, stand_in):
    from transformers import AutoTokenizer

    stand_in.template = ZEPHYR
    llm = load_llm(f"gguf:{files['q8_0']}")
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    reference = AutoTokenizer.from_pretrained(files["dir"])
    reference.chat_template = ZEPHYR
    expected = reference.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert llm.render_chat(messages) == expected == \
           "<|system|>\nbe brief<|endoftext|>\n<|user|>\nhi<|endoftext|>\n<|assistant|>\n"
    # the template's "<|endoftext|>" text is the special token, counted once, with no BOS added again
    assert llm.count_chat_tokens(messages) == len(reference.encode(expected, add_special_tokens=False))
    assert llm.chat(messages, SamplingParams(temperature=0, max_new_tokens=4)).completion_tokens <= 4
