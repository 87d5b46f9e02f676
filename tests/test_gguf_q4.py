"""GGUF Q4_0 / Q4_1 export of tiny Llama and GPT-2 models, read back three ways: the gguf package's reader
(each tensor's type and dequantised values against int4.py's group-32 int4 of the same weight), transformers'
GGUF loader (logits against the model holding those dequantised weights), and llama.cpp where
llama-cpp-python is installed."""

import numpy as np
import pytest
import torch

from llmlab.chat.int4 import dequantize_int4, quantize_int4

gguf = pytest.importorskip("gguf")

KINDS = ("q4_0", "q4_1")


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def exported(request, tmp_path_factory):
    from llmlab.chat.gguf_export import export_gguf
    from llmlab.serve.random_model import make_model_dir

    root = tmp_path_factory.mktemp(f"q4-{request.param}")
    model_dir = make_model_dir(root / "model", family=request.param, preset="tiny", tokenizer="bpe")
    files = {kind: export_gguf(model_dir, root / "files" / f"tiny.{kind}.gguf", kind) for kind in KINDS}
    return request.param, model_dir, files


def _dequantised_copy(model_dir, symmetric: bool):
    """The HF model with every 2-D weight replaced by its group-32 int4 (rows of llama.cpp's layout, i.e.
    (out, in): GPT-2's Conv1D transposed), or by f16 where a row is not whole 32-blocks."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    conv1d = ("c_attn.weight", "c_proj.weight", "c_fc.weight")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim != 2:
                continue
            rows = p.t() if name.endswith(conv1d) else p
            if rows.shape[1] % 32:
                new = rows.half().float()
            else:
                new = dequantize_int4(quantize_int4(rows, 32, symmetric))
            p.copy_(new.t() if name.endswith(conv1d) else new)
    return model


def test_reader_sees_q4_blocks_equal_to_our_int4(exported):
    family, model_dir, files = exported
    for kind in KINDS:
        reader = gguf.GGUFReader(files[kind])
        qtype = getattr(gguf.GGMLQuantizationType, kind.upper())
        quantised = [t for t in reader.tensors if t.tensor_type == qtype]
        assert len(quantised) >= 4, [(t.name, t.tensor_type) for t in reader.tensors]
        for t in quantised:
            values = gguf.quants.dequantize(t.data, qtype)              # (rows, in) in llama.cpp's layout
            raw = np.asarray(t.data)
            assert raw.dtype == np.uint8 and raw.size == values.size // 32 * (18 if kind == "q4_0" else 20)
            if t.name == "token_embd.weight":                  # a tensor with the same layout as HF's
                from safetensors.numpy import load_file

                name = "model.embed_tokens.weight" if family == "llama" else "transformer.wte.weight"
                original = torch.from_numpy(load_file(str(model_dir / "model.safetensors"))[name])
                ours = dequantize_int4(quantize_int4(original, 32, kind == "q4_0")).numpy()
                assert np.array_equal(values, ours)


@pytest.mark.parametrize("kind", KINDS)
def test_transformers_gguf_logits_equal_the_dequantised_model(exported, kind):
    from transformers import AutoModelForCausalLM

    family, model_dir, files = exported
    path = files[kind]
    reference = _dequantised_copy(model_dir, symmetric=kind == "q4_0")
    # transformers reads GGUF's context_length into GPT-2's n_ctx, not n_positions (the size of wpe)
    extra = {"n_positions": reference.config.n_positions} if family == "gpt2" else {}
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, **extra).eval()
    ids = torch.randint(0, 250, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = loaded(ids).logits, reference(ids).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_llama_cpp_runs_our_q4(exported):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed, so llama.cpp's "
                                    "own reading of the Q4 files is not checked here")
    family, model_dir, files = exported
    llm = llama_cpp.Llama(model_path=str(files["q4_0"]), logits_all=True, verbose=False, n_ctx=64)
    ids = list(range(5, 29))
    llm.eval(ids)
    got = torch.tensor(np.asarray(llm.scores)[: len(ids)])
    with torch.no_grad():
        want = _dequantised_copy(model_dir, symmetric=True)(torch.tensor([ids])).logits[0]
    # llama.cpp rounds activations to 8 bits inside its Q4 dot products: close, not equal
    assert (got.argmax(-1) == want.argmax(-1)).float().mean() > 0.8
