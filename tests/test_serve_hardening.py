"""The server under attack and under careless use: no request can stop the engine, nothing big is read
before it is allowed, every error is OpenAI's shape, and a really dead engine ends the process."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
import yaml

import llmlab.serve.engine as engine_module
from llmlab.cli import main
from llmlab.generation import SamplingParams, sample_next
from llmlab.serve.async_engine import MAX_FAILED_STEPS, EngineDeadError
from llmlab.serve.config import EngineConfig
from llmlab.serve.engine import Engine
from llmlab.serve.protocol import max_prompt_chars
from llmlab.serve.random_model import make_model_dir
from llmlab.serve.server import BackgroundServer

NAME = "tiny"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("hardening-gpt2"), family="gpt2", n_layer=1, n_embd=32)


def new_engine(model_dir, **kw):
    kw = {"num_blocks": 256, "block_size": 4, "max_num_seqs": 64, "max_batched_tokens": 512, **kw}
    return Engine(EngineConfig(model=str(model_dir), device="cpu", **kw))


@pytest.fixture
def server(model_dir):
    with BackgroundServer(new_engine(model_dir), model_name=NAME) as s:
        yield s


def post_raw(http, path, text, **headers):
    return http.post(path, content=text.encode(), headers={"content-type": "application/json", **headers})


def assert_openai_error(r, status, *words):
    assert r.status_code == status, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    for w in words:
        assert w in err["message"] or w == err["param"], (w, err)


def assert_still_serves(http):
    assert http.get("/health").status_code == 200
    r = http.post("/v1/completions", json={"prompt": "The quick", "max_tokens": 4, "temperature": 0})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4, r.text
    assert http.get("/health").json()["kv_blocks_in_use"] == 0


# (body, status, a word of the message or the param); strings are sent as they are (NaN, Infinity, deep
# nesting)
COMPLETIONS = [
    # clamped to the vocab
    ({"prompt": "hi", "top_k": 2**70, "temperature": 1.0, "max_tokens": 3}, 200, None),
    ({"prompt": "hi", "temperature": 1e-40, "max_tokens": 3}, 400, "temperature"),
    ({"prompt": "hi hi hi", "repetition_penalty": 1e-40, "temperature": 1.0}, 400, "repetition_penalty"),
    ({"prompt": "hi", "repetition_penalty": 1e40}, 400, "repetition_penalty"),
    ('{"prompt": "hi", "repetition_penalty": NaN}', 400, "repetition_penalty"),
    ('{"prompt": "hi", "temperature": Infinity}', 400, "temperature"),
    ('{"prompt": "hi", "temperature": NaN}', 400, "temperature"),
    ('{"prompt": "hi", "top_p": NaN}', 400, "top_p"),
    ('{"prompt": "hi", "presence_penalty": NaN}', 400, "presence_penalty"),
    ('{"prompt": "hi", "temperature": 1' + "0" * 400 + "}", 422, "temperature"),   # not a float
    ({"prompt": "hi", "temperature": 1e308}, 400, "temperature"),
    ({"prompt": "hi", "top_p": 1e-300, "temperature": 1.0, "max_tokens": 2}, 200, None),
    ({"prompt": "hi", "seed": 2**70, "temperature": 1.0}, 400, "seed"),
    ({"prompt": "hi", "seed": -(2**63), "n": 3, "temperature": 1.0, "max_tokens": 2}, 200, None),
    ({"prompt": "hi", "seed": 2**63 - 1, "n": 3, "temperature": 1.0, "max_tokens": 2}, 200, None),
    ({"prompt": "a\ud800b"}, 400, "surrogate"),
    ({"prompt": ["ok", "a\udfffb"]}, 400, "surrogate"),
    ({"prompt": [2**70]}, 400, "token ids"),
    ({"prompt": [-1, 3]}, 400, "token ids"),
    ({"prompt": "hi", "stop_token_ids": [2**70]}, 400, "stop_token_ids"),
    ({"prompt": "hi", "stop_token_ids": [-5]}, 400, "stop_token_ids"),
    ({"prompt": "hi", "stop": ["\ud800"], "max_tokens": 2}, 200, None),
    ({"prompt": "hi", "max_tokens": 2**70}, 400, "context"),
    ({"prompt": "hi", "n": 2**70}, 400, "n must be"),
    ({"prompt": "hi", "top_k": -(2**70)}, 400, "top_k"),
    ({"prompt": "hi", "model": "a\ud800b"}, 404, "does not exist"),
    ("[" * 200_000, 400, None),
    ('{"prompt": "hi", "repetition_penalty": NaN, "stream": true}', 400, "repetition_penalty"),
    ({"prompt": "hi", "seed": 2**70, "stream": True}, 400, "seed"),
]
CHAT = [
    ({"messages": [{"role": "user"}]}, 400, "no content"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}]}, 400,
     "no content"),
    ({"messages": [{"role": "user", "content": "a\ud800"}]}, 400, "surrogate"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "\udc00"}]}]}, 400, "surrogate"),
    ({"messages": [{"role": "user", "content": "hi"}], "top_k": 2**70, "max_tokens": 2}, 200, None),
    ({"messages": [{"role": "user", "content": "hi"}], "temperature": 1e-40}, 400, "temperature"),
    ({"messages": [{"role": "user", "content": "hi"}], "seed": -(2**70)}, 400, "seed"),
]


def test_extreme_and_malformed_values_get_400_and_the_engine_lives_on(server):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for path, cases in (("/v1/completions", COMPLETIONS), ("/v1/chat/completions", CHAT)):
            for body, status, word in cases:
                # json.dumps escapes lone surrogates as \udXXX, which JSON allows and a decoder turns back
                r = post_raw(http, path, body if isinstance(body, str) else json.dumps(body))
                if status == 200:
                    assert r.status_code == 200, (str(body)[:80], r.text[:300])
                else:
                    assert_openai_error(r, status, *([word] if word else []))
                assert http.get("/health").status_code == 200, str(body)[:80]
        assert_still_serves(http)


def test_the_sampler_takes_non_finite_scores_and_extreme_settings():
    torch.manual_seed(0)
    logits = torch.randn(4, 50)
    logits[1, 7] = float("nan")
    logits[2] = float("nan")
    logits[3, 9] = float("inf")
    alone = sample_next(logits[0], SamplingParams(temperature=1.0, seed=5),
                        generators=torch.Generator().manual_seed(5))
    for params in (SamplingParams(temperature=1.0), SamplingParams(temperature=1e-40),
                   SamplingParams(temperature=1.0, top_k=2**70), SamplingParams(temperature=1.0,
                                                                                repetition_penalty=1e-40)):
        rows = [SamplingParams(temperature=1.0, seed=5), params, params, params]
        gens = [torch.Generator().manual_seed(5), None, None, None]
        ids = sample_next(logits, rows, previous=[[1], [2], [3], [4]], generators=gens)
        assert ids.shape == (4,) and bool(((ids >= 0) & (ids < 50)).all()), ids
        assert int(ids[0]) == int(alone)        # the healthy seeded row is untouched by its neighbours
        if params.temperature == 1.0 and params.repetition_penalty == 1.0:
            assert int(ids[3]) == 9             # the one +inf score wins, as it would under argmax
        ids = sample_next(logits, params, previous=[[1], [2], [3], [4]])
        assert bool(((ids >= 0) & (ids < 50)).all()), ids


def poison_sampling(monkeypatch, seed):
    """Make the engine's sampling raise for any batch holding a request with this seed."""
    real = engine_module.sample_next

    def sample(logits, params, *args, **kwargs):
        rows = [params] if not isinstance(params, list) else params
        if any(p.seed == seed for p in rows):
            raise RuntimeError("probability tensor contains either inf, nan or element < 0")
        return real(logits, params, *args, **kwargs)
    monkeypatch.setattr(engine_module, "sample_next", sample)


def test_a_request_whose_sampling_raises_fails_alone_in_process(model_dir, monkeypatch):
    engine = new_engine(model_dir)
    [expected] = engine.generate(["The quick brown"], SamplingParams(temperature=0, max_new_tokens=12))
    poison_sampling(monkeypatch, seed=666)
    good = engine.add_request("The quick brown", SamplingParams(temperature=0, max_new_tokens=12))
    bad = engine.add_request("hello", SamplingParams(temperature=1.0, seed=666, max_new_tokens=12))
    text, reasons = "", {}
    while engine.has_unfinished():
        for out in engine.step():
            text += out.text if out.request_id == good else ""
            if out.finished:
                reasons[out.request_id] = out.finish_reason
    assert reasons == {good: "length", bad: "error"} and text == expected.text
    assert isinstance(engine.errors.pop(bad), RuntimeError) and engine.allocator.num_in_use == 0
    with pytest.raises(RuntimeError, match="probability tensor"):        # in-process, the caller sees it
        engine.generate(["hello"], SamplingParams(temperature=1.0, seed=666, max_new_tokens=3))
    assert engine.allocator.num_in_use == 0 and not engine.requests


def test_a_forward_pass_that_raises_fails_its_step_and_the_next_step_runs(model_dir):
    engine = new_engine(model_dir)
    execute, calls = engine.runner.execute, []

    def once(scheduled):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory")
        return execute(scheduled)
    engine.runner.execute = once
    rid = engine.add_request("hello", SamplingParams(max_new_tokens=3))
    [out] = engine.step()
    assert out.request_id == rid and out.finish_reason == "error" and engine.failed_steps == 1
    assert engine.allocator.num_in_use == 0 and rid in engine.errors
    [done] = engine.generate(["hello"], SamplingParams(temperature=0, max_new_tokens=3))
    assert done.finish_reason == "length" and engine.failed_steps == 0


def test_over_http_the_failing_request_gets_500_and_its_neighbours_finish(model_dir, monkeypatch):
    engine = new_engine(model_dir)
    [expected] = engine.generate(["The quick brown"], SamplingParams(temperature=0, max_new_tokens=40))
    step = engine.step
    engine.step = lambda: (time.sleep(0.01), step())[1]      # slow enough that the requests overlap
    poison_sampling(monkeypatch, seed=666)
    with BackgroundServer(engine, model_name=NAME) as s, httpx.Client(base_url=s.url, timeout=60) as http:
        result = {}

        def good():
            result["r"] = http.post("/v1/completions", json={"prompt": "The quick brown", "max_tokens": 40,
                                                               "temperature": 0})
        t = threading.Thread(target=good)
        t.start()
        time.sleep(0.1)
        bad = {"prompt": "hello", "max_tokens": 5, "temperature": 1.0, "seed": 666}
        assert_openai_error(http.post("/v1/completions", json=bad), 500, "failed in the engine")
        with http.stream("POST", "/v1/completions", json={**bad, "stream": True}) as r:
            lines = [line for line in r.iter_lines() if line]
        assert r.status_code == 200 and lines[-1] == "data: [DONE]"
        err = json.loads(lines[-2][6:])["error"]
        assert err["code"] == "request_failed" and "failed in the engine" in err["message"]
        t.join()
        assert result["r"].status_code == 200 and result["r"].json()["choices"][0]["text"] == expected.text
        assert_still_serves(http)


def test_a_lab_error_on_the_engine_thread_is_a_400_event_in_a_stream_and_a_400_body(model_dir):
    from llmlab.errors import LabError

    engine = new_engine(model_dir)
    add = engine.add_request

    def refuse(prompt, params=None, request_id=None, ignore_eos=False, **kw):
        if list(prompt) == [5, 6, 7]:
            raise LabError("the KV cache holds 8 tokens; this request needs 9", hint="raise num_blocks")
        return add(prompt, params, request_id=request_id, ignore_eos=ignore_eos, **kw)
    engine.add_request = refuse
    with BackgroundServer(engine, model_name=NAME) as s, httpx.Client(base_url=s.url, timeout=60) as http:
        body = {"prompt": [5, 6, 7], "max_tokens": 2}
        assert_openai_error(http.post("/v1/completions", json=body), 400, "KV cache holds")
        with http.stream("POST", "/v1/chat/completions", json={"messages": [{"role": "user",
                                                                             "content": "hi"}],
                                                                "max_tokens": 2, "stream": True}) as r:
            assert r.status_code == 200                       # a normal stream beside it is unaffected
        with http.stream("POST", "/v1/completions", json={**body, "stream": True}) as r:
            lines = [line for line in r.iter_lines() if line]
        assert r.status_code == 200 and lines[-1] == "data: [DONE]"
        err = json.loads(lines[-2][6:])["error"]
        assert err["type"] == "invalid_request_error" and "KV cache holds" in err["message"]
        assert_still_serves(http)


def test_a_dead_engine_says_engine_stopped_without_internals(model_dir):
    engine = new_engine(model_dir)
    with BackgroundServer(engine, model_name=NAME) as s, httpx.Client(base_url=s.url, timeout=60) as http:
        died = threading.Event()
        s.engine.on_death = died.set

        def broken():
            raise RuntimeError(f"block table corrupt in {__file__}")
        engine.scheduler.schedule = broken
        assert_openai_error(http.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2}), 503,
                            "engine stopped")
        assert died.wait(10)
        r = http.get("/health")
        assert r.status_code == 503 and r.json() == {"status": "unavailable", "error": "engine stopped"}
        r = http.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2, "stream": True})
        assert_openai_error(r, 503, "engine stopped")
        assert "Traceback" not in r.text and "/" not in r.json()["error"]["message"]


def test_steps_that_keep_failing_stop_the_engine(model_dir):
    engine = new_engine(model_dir)

    def broken(scheduled):
        raise RuntimeError("device-side assert triggered")
    engine.runner.execute = broken
    with BackgroundServer(engine, model_name=NAME) as s, httpx.Client(base_url=s.url, timeout=60) as http:
        for _ in range(MAX_FAILED_STEPS):
            assert http.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2}).status_code in (500,
                                                                                                        503)
        deadline = time.monotonic() + 10
        while http.get("/health").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http.get("/health").status_code == 503


def test_the_key_and_the_size_cap_come_before_the_body(model_dir):
    big = '{"prompt": "hi", "max_tokens": 2}' + " " * (2 << 20)
    with BackgroundServer(new_engine(model_dir), model_name=NAME, api_key="s3cret",
                          max_body_bytes=1 << 20) as s, \
            httpx.Client(base_url=s.url, timeout=60) as http:
        key = {"Authorization": "Bearer s3cret"}
        assert_openai_error(post_raw(http, "/v1/completions", '{"prompt": "hi",'), 401, "API key")
        assert_openai_error(post_raw(http, "/v1/completions", big), 401, "API key")
        assert_openai_error(post_raw(http, "/v1/completions", big, **key), 413, "limit of 1 MB")

        def chunks():                       # no Content-Length: the cap is counted while reading
            for _ in range(3):
                yield b" " * (1 << 19)
            yield b'{"prompt": "hi"}'
        r = http.post("/v1/completions", content=chunks(), headers={**key,
                                                                    "content-type": "application/json"})
        assert_openai_error(r, 413, "limit of 1 MB")
        assert_openai_error(post_raw(http, "/v1/completions", '{"prompt": "hi",', **key), 400,
                            "not valid JSON")
        for scheme in ("bearer", "BEARER", "Bearer"):
            r = http.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2},
                          headers={"Authorization": f"{scheme} s3cret"})
            assert r.status_code == 200, (scheme, r.text)
        for path in ("/docs", "/openapi.json", "/v1/models"):
            assert_openai_error(http.get(path), 401, "API key")
            assert http.get(path, headers=key).status_code == 200, path
        assert http.get("/health").status_code == 200 and http.get("/metrics").status_code == 200
        assert_openai_error(http.get("/v1/completions", headers=key), 405, "Method Not Allowed")
        assert_openai_error(http.get("/v1/nothing", headers=key), 404, "Not Found")


def test_the_default_cap_refuses_a_50_mb_body(server):
    body = '{"prompt": "hi", "max_tokens": 2}' + " " * (50 << 20)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert_openai_error(post_raw(http, "/v1/completions", body), 413, "limit of 4 MB")
        assert_still_serves(http)


def test_a_prompt_far_beyond_the_context_is_refused_before_tokenising(model_dir):
    engine = new_engine(model_dir)
    tok, calls = engine.tokenizer, []
    encode = tok.encode

    def counting(*args, **kwargs):
        calls.append(1)
        return encode(*args, **kwargs)
    tok.encode = counting
    limit = max_prompt_chars(tok, engine.max_model_len)
    assert limit is not None and limit < 100_000
    with BackgroundServer(engine, model_name=NAME) as s, httpx.Client(base_url=s.url, timeout=60) as http:
        r = http.post("/v1/completions", json={"prompt": "x" * (limit + 1), "max_tokens": 2})
        assert_openai_error(r, 400, "characters")
        assert r.json()["error"]["code"] == "context_length_exceeded"
        r = http.post("/v1/chat/completions", json={"messages": [{"role": "user",
                                                                  "content": "x" * (limit + 1)}]})
        assert_openai_error(r, 400, "characters")
        assert calls == []
        # under the bound the tokenizer decides, as before
        assert_openai_error(http.post("/v1/completions", json={"prompt": "x" * 300, "max_tokens": 2}), 400,
                            "context is 256 tokens")
        assert calls == [1]


def test_tokenising_runs_off_the_event_loop(model_dir):
    engine = new_engine(model_dir)
    tok = engine.tokenizer
    encode = tok.encode

    def slow(*args, **kwargs):
        time.sleep(1.5)
        return encode(*args, **kwargs)
    tok.encode = slow
    with BackgroundServer(engine, model_name=NAME) as s, httpx.Client(base_url=s.url, timeout=60) as http:
        t = threading.Thread(target=lambda: http.post("/v1/completions", json={"prompt": "hi",
                                                                               "max_tokens": 2}))
        t.start()
        time.sleep(0.3)
        start = time.monotonic()
        assert http.get("/health").status_code == 200
        waited = time.monotonic() - start
        t.join()
    assert waited < 0.7, f"/health waited {waited:.2f} s behind a tokenisation"


def test_compose_publishes_on_loopback_by_default():
    text = (ROOT / "compose.yaml").read_text()
    for service in yaml.safe_load(text)["services"].values():
        for port in service["ports"]:
            # ${VAR:-default} as compose expands it when VAR is unset
            expanded = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", port)
            assert expanded.startswith("127.0.0.1:"), port


def test_serve_warns_beyond_loopback_without_a_key_and_exits_1_when_the_engine_dies(model_dir, monkeypatch,
                                                                                    capsys):
    import llmlab.serve.server as server_module

    seen = []
    monkeypatch.setattr(server_module, "run_server", lambda *a, **kw: seen.append(kw))
    base = ["serve", "--model", str(model_dir), "--device", "cpu", "--max-body-mb", "2"]
    assert main([*base, "--host", "0.0.0.0"]) == 0
    assert "warning: listening on 0.0.0.0 without an API key" in capsys.readouterr().err
    assert seen[-1]["max_body_bytes"] == 2 << 20
    for quiet in (["--host", "127.0.0.1"], ["--host", "::1"], ["--host", "0.0.0.0", "--api-key", "k"]):
        assert main([*base, *quiet]) == 0
        assert "warning" not in capsys.readouterr().err, quiet

    def dies(*a, **kw):
        raise EngineDeadError("engine stopped")
    monkeypatch.setattr(server_module, "run_server", dies)
    assert main(base) == 1
    assert "engine stopped" in capsys.readouterr().err


@pytest.mark.slow
def test_llmlab_serve_exits_non_zero_when_its_engine_dies(model_dir):
    # the real process: its engine's scheduler breaks on the first request
    code = ("import sys; import llmlab.serve.scheduler as s\n"
            "def broken(self): raise RuntimeError('block table corrupt')\n"
            "s.Scheduler.schedule = broken\n"
            "from llmlab.cli import main; sys.exit(main(sys.argv[1:]))")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--model", str(model_dir), "--port",
                             str(port),
                             "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LLMLAB_API_KEY": ""})
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stderr.read() if proc.poll() else "slow"
            )
            time.sleep(0.2)
        r = httpx.post(url + "/v1/completions", json={"prompt": "hi", "max_tokens": 2}, timeout=30)
        assert r.status_code == 503
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert rc == 1, err
    assert "engine stopped" in err and "block table corrupt" in err      # the log has the traceback
