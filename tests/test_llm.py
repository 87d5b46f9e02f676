"""llmlab.llm: every backend gives the same greedy text for the same model; streams add up to the whole;
stops, chat templates, token counts and the context-window check behave the same everywhere."""

import json

import pytest

from llmlab.errors import LabError
from llmlab.generation import SamplingParams
from llmlab.llm import ContextWindowError, load_llm, parse_spec, render_chat
from llmlab.serve.random_model import make_model_dir

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=12)


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("llm-gpt2"), family="gpt2", n_layer=2, n_embd=32,
                          tokenizer="bpe")


@pytest.fixture(scope="module")
def engine_llm(gpt2_dir):
    return load_llm(f"engine:{gpt2_dir}", device="cpu", num_blocks=256, block_size=4)


@pytest.fixture(scope="module")
def hf_llm(gpt2_dir):
    return load_llm(f"hf:{gpt2_dir}")


def test_engine_and_hf_backends_give_the_same_greedy_text(engine_llm, hf_llm):
    for prompt in ("The quick brown", "héllo wörld — naïve", "0"):
        a, b = engine_llm.complete(prompt, GREEDY), hf_llm.complete(prompt, GREEDY)
        assert a.text == b.text and a.text
        assert a.finish_reason == b.finish_reason == "length"
        assert a.completion_tokens == b.completion_tokens == 12
        assert a.prompt_tokens == b.prompt_tokens == engine_llm.count_tokens(prompt)


def test_transformers_generate_agrees_with_the_hf_backend(gpt2_dir, hf_llm):
    import torch

    ids = hf_llm.tokenizer.encode("Pack my box")
    out = hf_llm.model.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False, eos_token_id=None,
                                pad_token_id=0)
    expected = hf_llm.tokenizer.decode(out[0, len(ids):].tolist())
    assert hf_llm.complete("Pack my box", GREEDY).text == expected


def test_a_stream_adds_up_to_the_completion_and_seeded_sampling_agrees(engine_llm, hf_llm):
    params = SamplingParams(temperature=0.9, top_k=20, seed=7, max_new_tokens=16)
    wholes = []
    for llm in (engine_llm, hf_llm):
        whole = llm.complete("emoji 😀 and 日本語", params).text
        assert "".join(llm.stream("emoji 😀 and 日本語", params)) == whole
        wholes.append(whole)
    assert wholes[0] == wholes[1]      # one sampler, one seed rule: the same draws from the same logits


@pytest.mark.parametrize("which", ["engine_llm", "hf_llm"])
def test_stop_strings_cut_the_text_before_the_stop(which, request):
    llm = request.getfixturevalue(which)
    full = llm.complete("The quick brown", GREEDY).text
    stop = full[len(full) // 2:len(full) // 2 + 2]
    assert stop.strip(), "the greedy text should have a visible middle"
    out = llm.complete("The quick brown", SamplingParams(temperature=0.0, max_new_tokens=12, stop=(stop,)))
    assert out.text == full[:full.index(stop)] and out.finish_reason == "stop"
    assert "".join(llm.stream("The quick brown", SamplingParams(temperature=0.0, max_new_tokens=12,
                                                                stop=(stop,)))) == out.text


def test_the_context_window_check_names_both_numbers(engine_llm, hf_llm):
    for llm in (engine_llm, hf_llm):
        assert llm.context_window == 256
        prompt = "word " * 100
        n = llm.count_tokens(prompt)
        with pytest.raises(ContextWindowError) as err:
            llm.complete(prompt, SamplingParams(max_new_tokens=256))
        assert f"{n + 256} were asked" in str(err.value) and "256 tokens" in str(err.value)


def test_chat_uses_the_default_template_when_the_tokenizer_has_none(engine_llm, hf_llm):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    rendered = engine_llm.render_chat(messages)
    assert rendered == "system: Be brief.\nuser: Hi\nassistant:"
    for llm in (engine_llm, hf_llm):
        assert llm.chat(messages, GREEDY).text == llm.complete(rendered, GREEDY).text
        assert llm.count_chat_tokens(messages) == llm.count_tokens(rendered)


def test_a_tokenizer_template_is_rendered_without_adding_special_tokens_twice(tmp_path):
    d = make_model_dir(tmp_path / "llama", family="llama", n_layer=1, n_embd=32, tokenizer="bpe")
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg["chat_template"] = ("{% for m in messages %}<|endoftext|>{{ m['role'] }}\n{{ m['content'] }}\n{% "
                            "endfor %}"
                            "{% if add_generation_prompt %}<|endoftext|>assistant\n{% endif %}")
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    llm = load_llm(f"hf:{d}")
    messages = [{"role": "user", "content": "Hi"}]
    text = llm.render_chat(messages)
    assert text == "<|endoftext|>user\nHi\n<|endoftext|>assistant\n"
    eos = llm.tokenizer.eos_token_id
    ids = llm.tokenizer.encode(text, add_special_tokens=False)
    assert ids.count(eos) == 2 and llm.count_chat_tokens(messages) == len(ids)
    assert render_chat(llm.tokenizer, messages) == text


def test_closing_a_stream_early_frees_the_engines_blocks(engine_llm):
    alloc = engine_llm.engine.allocator
    stream = engine_llm.stream("The quick brown", SamplingParams(temperature=0.0, max_new_tokens=40))
    next(stream)
    assert alloc.num_in_use > 0
    stream.close()
    assert alloc.num_in_use == 0 and not engine_llm.engine.requests


def test_bad_messages_and_specs_get_clear_errors(engine_llm, gpt2_dir, tmp_path):
    with pytest.raises(LabError, match="role"):
        engine_llm.chat([{"role": "robot", "content": "x"}])
    with pytest.raises(LabError, match="empty"):
        engine_llm.chat([])
    with pytest.raises(LabError, match="backend"):
        load_llm(str(tmp_path / "nowhere"))
    with pytest.raises(LabError, match="no model directory"):
        load_llm(f"hf:{tmp_path / 'nowhere' / 'deeper'}")
    assert parse_spec(str(gpt2_dir)) == ("engine", str(gpt2_dir))
    assert parse_spec("openai:http://127.0.0.1:8000/v1") == ("openai", "http://127.0.0.1:8000/v1")
    assert load_llm(engine_llm) is engine_llm


def test_the_openai_backend_against_llmlabs_own_server(gpt2_dir, engine_llm):
    from llmlab.serve.config import EngineConfig
    from llmlab.serve.engine import Engine
    from llmlab.serve.server import BackgroundServer

    engine = Engine(EngineConfig(model=str(gpt2_dir), device="cpu", num_blocks=256, block_size=4))
    with BackgroundServer(engine, model_name="tiny") as server:
        llm = load_llm(f"openai:{server.url}/v1")
        assert llm.model == "tiny" and llm.context_window == 256 and not llm.exact_counts
        expected = engine_llm.complete("The quick brown", GREEDY)
        got = llm.complete("The quick brown", GREEDY)
        assert (got.text, got.finish_reason, got.prompt_tokens, got.completion_tokens) == (
            expected.text, "length", expected.prompt_tokens, 12)
        assert "".join(llm.stream("The quick brown", GREEDY)) == expected.text
        messages = [{"role": "user", "content": "Hi"}]
        assert llm.chat(messages, GREEDY).text == engine_llm.chat(messages, GREEDY).text
        with pytest.raises(LabError, match="context"):
            llm.complete("word " * 200, SamplingParams(max_new_tokens=200))
        llm.close()
    with pytest.raises(LabError, match="no OpenAI-compatible server"):
        load_llm(f"openai:{server.url}/v1")


def test_bad_dtype_and_device_are_lab_errors(gpt2_dir):
    import torch

    with pytest.raises(LabError, match="unknown dtype 'fp16'"):
        load_llm(f"hf:{gpt2_dir}", dtype="fp16")
    with pytest.raises(LabError, match="unknown device 'gpu'"):
        load_llm(f"hf:{gpt2_dir}", device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(LabError, match="no CUDA GPU"):
            load_llm(f"hf:{gpt2_dir}", device="cuda")
    assert load_llm(f"hf:{gpt2_dir}", dtype="bfloat16").model.dtype == torch.bfloat16


def test_an_option_the_backend_lacks_is_named(gpt2_dir):
    for kind in ("engine", "hf"):
        with pytest.raises(LabError, match=f"the {kind}: backend has no option 'n_ctxx'") as info:
            load_llm(f"{kind}:{gpt2_dir}", n_ctxx=4096)
        assert "device" in info.value.hint


def test_a_template_without_a_system_role_gets_it_folded_and_other_refusals_are_lab_errors(tmp_path):
    d = make_model_dir(tmp_path / "gpt2", family="gpt2", n_layer=1, n_embd=32, tokenizer="bpe")
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    # like Gemma's: no system role, and user/assistant must alternate starting with the user
    cfg["chat_template"] = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not "
        "supported') }}"
        "{% endif %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Roles must alternate user/assistant/user/...') }}{% endif %}"
        "<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>")
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    llm = load_llm(f"hf:{d}")
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye"}]
    assert llm.render_chat(chat) == "<user>be brief\n\nhi<assistant>hello<user>bye<assistant>"
    assert llm.chat(chat, GREEDY).completion_tokens == 12
    with pytest.raises(LabError, match=r"refused the conversation \(system -> user -> user\): System role"):
        llm.chat([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                  {"role": "user", "content": "again"}])
    with pytest.raises(LabError, match=r"\(assistant -> user\): Roles must alternate"):
        llm.chat([{"role": "assistant", "content": "hi"}, {"role": "user", "content": "hi"}])


def test_an_openai_stream_that_breaks_midway_is_a_lab_error():
    import httpx
    import openai

    from llmlab.llm.openai_backend import OpenAILLM

    class Chunk:
        usage, choices = None, [type("Choice", (), {"text": "Hello", "finish_reason": None})()]

    class BrokenStream:
        closed = False

        def __iter__(self):
            yield Chunk()
            raise openai.APIConnectionError(request=httpx.Request("POST",
                                                                  "http://127.0.0.1:1/v1/completions"))

        def close(self):
            self.closed = True

    llm = OpenAILLM.__new__(OpenAILLM)
    llm._openai, llm.name = openai, "openai:test"
    stream = BrokenStream()
    deltas = llm._consume(stream, lambda choice: choice.text)
    assert next(deltas).text == "Hello"
    with pytest.raises(LabError, match="stopped in the middle of the answer"):
        next(deltas)
    assert stream.closed
