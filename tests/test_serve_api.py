"""The OpenAI-compatible server over real HTTP: the openai client, streaming, errors, queue, disconnects."""

import asyncio
import json
import threading
import time

import httpx
import pytest
from openai import OpenAI

from llmlab.generation import SamplingParams
from llmlab.serve.config import EngineConfig
from llmlab.serve.engine import Engine
from llmlab.serve.metrics import parse_metrics
from llmlab.serve.random_model import make_model_dir
from llmlab.serve.server import BackgroundServer

NAME = "tiny"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("api-gpt2"), family="gpt2", n_layer=1, n_embd=32)


def new_engine(model_dir, **kw):
    kw = {"num_blocks": 512, "block_size": 4, "max_num_seqs": 256, "max_batched_tokens": 512, **kw}
    return Engine(EngineConfig(model=str(model_dir), device="cpu", **kw))


@pytest.fixture
def server(model_dir):
    with BackgroundServer(new_engine(model_dir), model_name=NAME) as s:
        yield s


def slow_down(engine, seconds):
    """Make every engine step take a little longer, so a request is surely still running when we act."""
    step = engine.step

    def slow():
        time.sleep(seconds)
        return step()
    engine.step = slow


def test_openai_client_works_unchanged(server, model_dir):
    client = OpenAI(base_url=server.url + "/v1", api_key="unused")
    assert [m.id for m in client.models.list().data] == [NAME]
    expected = new_engine(model_dir).generate(["The quick"], SamplingParams(temperature=0.0,
                                                                            max_new_tokens=8))[0]
    done = client.completions.create(model=NAME, prompt="The quick", max_tokens=8, temperature=0)
    assert done.choices[0].text == expected.text and done.choices[0].finish_reason == "length"
    assert done.usage.prompt_tokens == 9 and done.usage.completion_tokens == 8
    pieces = list(client.completions.create(model=NAME, prompt="The quick", max_tokens=8, temperature=0,
                                            stream=True))
    assert "".join(p.choices[0].text for p in pieces) == expected.text
    assert pieces[-1].choices[0].finish_reason == "length"
    # the second identical prompt found its full blocks in the prefix cache
    again = client.completions.create(model=NAME, prompt="The quick", max_tokens=8, temperature=0)
    assert again.usage.prompt_tokens_details.cached_tokens == 8

    chat = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=5,
                                          temperature=0)
    assert chat.choices[0].message.role == "assistant" and len(chat.choices[0].message.content) == 5
    stream = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "hi"}],
                                            max_tokens=5,
                                            temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == chat.choices[0].message.content
    )
    assert chunks[-1].usage.completion_tokens == 5

    two = client.completions.create(model=NAME, prompt=["ab", "cd"], n=2, max_tokens=3, temperature=1.0,
                                    seed=1)
    assert sorted(c.index for c in two.choices) == [0, 1, 2, 3] and two.usage.completion_tokens == 12


def test_sse_stream_ends_with_done(server):
    with httpx.stream("POST", server.url + "/v1/completions", json={"prompt": [1, 2, 3], "max_tokens": 4,
                                                                      "temperature": 0, "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert r.headers["content-type"].startswith("text/event-stream")
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)
    assert json.loads(lines[-2][6:])["choices"][0]["finish_reason"] == "length"


BAD = [
    ({"prompt": "x" * 300, "max_tokens": 5}, 400,
     "256 tokens, but 305 were asked for (300 in the prompt, 5 to generate)"),
    ({"prompt": "hi", "temperature": 2.5}, 400, "temperature"),
    ({"prompt": "hi", "top_p": 0}, 400, "top_p"),
    ({"prompt": "hi", "max_tokens": 0}, 400, "max_tokens"),
    ({"prompt": "hi", "n": 0}, 400, "n must be"),
    ({"prompt": "hi", "n": 99}, 400, "n must be"),
    ({"prompt": ""}, 400, "prompt is empty"),
    ({"prompt": "hi", "model": "gpt-4"}, 404, "does not exist"),
    ({"prompt": {"not": "a prompt"}}, 422, "prompt"),
    ({"max_tokens": 3}, 422, "prompt: Field required"),
    ({"prompt": "hi", "logprobs": 2}, 400, "not supported"),
]
BAD_CHAT = [
    ({"messages": []}, 400, "messages is empty"),
    ({"messages": [{"content": "no role"}]}, 422, "messages.0.role"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, 422, "messages.0.role"),
    ({"messages": "hello"}, 422, "messages"),
    ({"messages": [{"role": "user", "content": "x" * 300}], "max_tokens": 4}, 400, "context is 256 tokens"),
]


def test_each_bad_input_gets_its_error_and_the_server_still_serves(server):
    with httpx.Client(base_url=server.url) as http:
        for body, status, text in BAD:
            r = http.post("/v1/completions", json=body)
            assert r.status_code == status, (body, r.text)
            assert text in r.json()["error"]["message"], (body, r.text)
        for body, status, text in BAD_CHAT:
            r = http.post("/v1/chat/completions", json=body)
            assert r.status_code == status, (body, r.text)
            assert text in r.json()["error"]["message"], (body, r.text)
        r = http.post("/v1/completions", content=b'{"prompt": "hi",',
                      headers={"content-type": "application/json"})
        assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
        r = http.post("/v1/completions", json={"prompt": "hi", "max_tokens": 3})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 3
        assert http.get("/health").json()["kv_blocks_in_use"] == 0


def test_api_key(model_dir):
    with BackgroundServer(new_engine(model_dir), model_name=NAME, api_key="s3cret") as s:
        assert httpx.get(s.url + "/health").status_code == 200          # health stays open for probes
        r = httpx.post(s.url + "/v1/completions", json={"prompt": "hi", "max_tokens": 2})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        r = httpx.post(s.url + "/v1/completions", json={"prompt": "hi", "max_tokens": 2},
                       headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        client = OpenAI(base_url=s.url + "/v1", api_key="s3cret")
        assert client.completions.create(model=NAME, prompt="hi", max_tokens=2).usage.completion_tokens == 2


def test_a_full_queue_answers_429_and_recovers(model_dir):
    engine = new_engine(model_dir, max_num_seqs=1)
    slow_down(engine, 0.005)
    with BackgroundServer(engine, model_name=NAME, max_queue=1) as s:
        async def burst():
            async with httpx.AsyncClient(base_url=s.url, timeout=60) as http:
                return await asyncio.gather(*[http.post("/v1/completions", json={
                    "prompt": [1, 2, 3], "max_tokens": 20, "ignore_eos": True}) for _ in range(6)])
        codes = sorted(r.status_code for r in asyncio.run(burst()))
        assert 429 in codes and 200 in codes, codes
        assert parse_metrics(httpx.get(s.url + "/metrics").text)["llmlab_requests_rejected_total"] >= 1
        assert httpx.post(s.url + "/v1/completions", json={"prompt": "hi",
                                                           "max_tokens": 2}).status_code == 200


def test_200_concurrent_streams_all_complete_with_their_full_text(server, model_dir):
    prompts = [f"{w} fox {i}" for i, w in enumerate(["The", "quick", "brown", "lazy", "dog", "Pack", "my",
                                                     "box"])]
    done = new_engine(model_dir).generate(prompts, SamplingParams(temperature=0.0, max_new_tokens=6),
                                          ignore_eos=True)
    expected = {p: c.text for p, c in zip(prompts, done, strict=True)}
    assert all(len(t) == 6 for t in expected.values())

    async def one(http, prompt):
        text, done = [], False
        async with http.stream("POST", "/v1/completions", json={
                "model": NAME, "prompt": prompt, "max_tokens": 6, "temperature": 0, "stream": True,
                "ignore_eos": True}) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line == "data: [DONE]":
                    done = True
                elif line.startswith("data: "):
                    text.append(json.loads(line[6:])["choices"][0]["text"])
        return prompt, "".join(text), done

    async def run():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as http:
            return await asyncio.gather(*[one(http, prompts[i % len(prompts)]) for i in range(200)])

    results = asyncio.run(run())
    assert len(results) == 200
    for prompt, text, done in results:
        assert done and text == expected[prompt], prompt
    stats = httpx.get(server.url + "/health").json()
    assert stats["running"] == 0 and stats["kv_blocks_in_use"] == 0


def test_a_client_that_disconnects_mid_stream_frees_its_blocks(model_dir):
    engine = new_engine(model_dir)
    slow_down(engine, 0.01)
    with BackgroundServer(engine, model_name=NAME) as s:
        with httpx.stream("POST", s.url + "/v1/completions", json={
                "prompt": list(range(1, 30)), "max_tokens": 200, "stream": True, "ignore_eos": True}) as r:
            lines = r.iter_lines()
            for _ in range(3):
                next(lines)
            assert httpx.get(s.url + "/health").json()["kv_blocks_in_use"] > 0
        # leaving the block closed the connection mid-stream
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            health = httpx.get(s.url + "/health").json()
            if health["kv_blocks_in_use"] == 0 and health["running"] == 0:
                break
            time.sleep(0.05)
        assert health["kv_blocks_in_use"] == 0 and health["running"] == 0, health
        metrics = parse_metrics(httpx.get(s.url + "/metrics").text)
        assert metrics['llmlab_requests_finished_total{reason="abort"}'] == 1
        assert metrics["llmlab_generation_tokens_total"] < 200


def test_graceful_shutdown_lets_the_request_in_flight_finish(model_dir):
    engine = new_engine(model_dir)
    slow_down(engine, 0.01)
    server = BackgroundServer(engine, model_name=NAME).start()
    result = {}

    def call():
        result["r"] = httpx.post(server.url + "/v1/completions", timeout=30,
                                 json={"prompt": [1, 2], "max_tokens": 40, "ignore_eos": True})

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 60      # a stuck engine fails here, not at pytest's 600 s timeout
    while engine.generated_tokens < 3:
        assert time.monotonic() < deadline and caller.is_alive(), "the request never started generating"
        time.sleep(0.01)
    server.stop()                        # asks uvicorn to exit while the request is still generating
    caller.join(30)
    assert result["r"].status_code == 200
    assert result["r"].json()["choices"][0]["finish_reason"] == "length"
    assert result["r"].json()["usage"]["completion_tokens"] == 40
    assert not server.thread.is_alive() and engine.allocator.num_in_use == 0


def test_metrics_report_latencies_queue_blocks_and_hit_rate(server):
    with httpx.Client(base_url=server.url) as http:
        for _ in range(2):
            http.post("/v1/completions", json={"prompt": list(range(1, 18)), "max_tokens": 3})
        m = parse_metrics(http.get("/metrics").text)
    assert m["llmlab_time_to_first_token_seconds_count"] == 2
    assert m["llmlab_inter_token_latency_seconds_count"] == 4
    assert m["llmlab_num_requests_waiting"] == 0 and m["llmlab_num_requests_running"] == 0
    assert m["llmlab_kv_blocks_in_use"] == 0 and m["llmlab_kv_blocks_total"] == 511
    # 17-token prompts, blocks of 4: the second request found 4 full blocks (16 tokens) of 34 looked up
    assert m["llmlab_prefix_cache_hit_rate"] == pytest.approx(16 / 34)


def test_a_chat_template_that_refuses_the_messages_is_a_400(model_dir):
    engine = new_engine(model_dir)
    # a template that, like Gemma's, needs user and assistant turns to alternate and says so
    engine.tokenizer.chat_template = ("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % "
                                      "2 == 0) %}"
                                      "{{ raise_exception('Roles must alternate') }}{% endif %}"
                                      "{{ m['content'] }}\n{% endfor %}")
    with BackgroundServer(engine, model_name=NAME) as s, httpx.Client(base_url=s.url) as http:
        r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"},
                                                                 {"role": "user", "content": "again"}]})
        assert r.status_code == 400 and "Roles must alternate" in r.json()["error"]["message"]
        r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}],
                                                     "max_tokens": 2})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 2
