"""Tool calling and response_format through the OpenAI client against a running server (random model,
speculative decoding on), and 200 concurrent mixed requests."""

import asyncio
import json

import jsonschema
import openai
import pytest
from openai import OpenAI

pytest.importorskip("llguidance", reason="constrained decoding needs llguidance (the serve extra)")

from llmlab.serve.config import EngineConfig  # noqa: E402
from llmlab.serve.engine import Engine  # noqa: E402
from llmlab.serve.random_model import make_model_dir  # noqa: E402
from llmlab.serve.server import BackgroundServer  # noqa: E402
from llmlab.serve.tools import OPEN, ToolStream, parse_tool_calls, render_tools  # noqa: E402

WEATHER = {"type": "function", "function": {"name": "weather", "description": "today's weather",
                                           "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "maxLength": 6},
                                     "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "days"], "additionalProperties": False}}}
CLOCK = {"type": "function", "function": {"name": "clock", "parameters": {
    "type": "object", "properties": {"tz": {"enum": ["UTC", "CET"]}}, "required": ["tz"]}}}
ASK = [{"role": "user", "content": "weather in Paris?"}]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("tools"), n_layer=1, n_embd=32, tokenizer="bpe",
                          n_positions=1024)   # the default tool prompt is long in a 300-token vocabulary


def new_engine(model_dir, **kw):
    return Engine(EngineConfig(model=str(model_dir), device="cpu", num_blocks=2048, block_size=8,
                               max_num_seqs=64, **kw))


@pytest.fixture(scope="module")
def server(model_dir):
    with BackgroundServer(new_engine(model_dir, speculative="ngram"), model_name="tiny") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def _args_valid(call, tool):
    jsonschema.validate(json.loads(call.function.arguments), tool["function"]["parameters"])


def test_forced_tool_calls_round_trip_with_the_openai_client(client):
    out = client.chat.completions.create(model="tiny", messages=ASK, tools=[WEATHER, CLOCK],
                                         tool_choice="required", max_tokens=120, temperature=0)
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    _args_valid(call, {"weather": WEATHER, "clock": CLOCK}[call.function.name])
    named = client.chat.completions.create(
        model="tiny", messages=ASK, tools=[WEATHER, CLOCK], max_tokens=120, temperature=1.0, seed=5,
        tool_choice={"type": "function", "function": {"name": "weather"}})
    [call] = named.choices[0].message.tool_calls
    assert call.function.name == "weather"
    _args_valid(call, WEATHER)
    # the same greedy answer streamed: the call arrives as tool_calls deltas, the finish as "tool_calls"
    chunks = list(client.chat.completions.create(model="tiny", messages=ASK, tools=[WEATHER, CLOCK],
                                                 tool_choice="required", max_tokens=120, temperature=0,
                                                 stream=True))
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert [(d.function.name, d.function.arguments) for d in deltas] == [
        (choice.message.tool_calls[0].function.name, choice.message.tool_calls[0].function.arguments)]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not "".join(c.choices[0].delta.content or "" for c in chunks)
    # next turn: the assistant's call and the tool's answer are accepted
    turn = ASK + [choice.message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": choice.message.tool_calls[0].id, "content": "sunny"}]
    again = client.chat.completions.create(model="tiny", messages=turn, tools=[WEATHER, CLOCK],
                                           max_tokens=4, tool_choice="none", temperature=0)
    assert again.choices[0].finish_reason == "length" and again.choices[0].message.tool_calls is None


def test_response_format_on_both_endpoints(client):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"enum": [1, 2, 3]}},
              "required": ["ok", "n"], "additionalProperties": False}
    rf = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    chat = client.chat.completions.create(model="tiny", messages=ASK, response_format=rf, max_tokens=60,
                                          temperature=1.0, seed=2)
    jsonschema.validate(json.loads(chat.choices[0].message.content), schema)
    text = client.completions.create(model="tiny", prompt="x", extra_body={"response_format": rf},
                                     max_tokens=60, temperature=0)
    jsonschema.validate(json.loads(text.choices[0].text), schema)
    streamed = client.completions.create(model="tiny", prompt="x", extra_body={"response_format": rf},
                                         max_tokens=60, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == text.choices[0].text
    obj = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=80, temperature=0,
                                         response_format={"type": "json_object"})
    # a bare object may go on for ever; if the grammar ended it, it is one
    if obj.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(obj.choices[0].message.content), dict)
    else:
        assert obj.choices[0].message.content.startswith("{")


@pytest.mark.parametrize("kwargs, named", [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "u", "schema": {
        "type": "array", "uniqueItems": True}}}}, "uniqueItems"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "u", "schema": {
        "not": {"type": "string"}}}}}, '"not"'),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "'nope'"),
    ({"tool_choice": "required"}, "tool_choice needs tools"),
    ({"tools": [WEATHER], "response_format": {"type": "json_object"}}, "cannot be combined"),
])
def test_refusals_name_the_problem(client, kwargs, named):
    with pytest.raises(openai.BadRequestError, match=named):
        client.chat.completions.create(model="tiny", messages=ASK, max_tokens=4, **kwargs)


def test_parse_and_stream_tool_calls():
    text = f'Let me look. {OPEN}{{"name": "weather", "arguments": {{"city": "Oslo"}}}}</tool_call>'
    content, [call] = parse_tool_calls(text)
    assert content == "Let me look." and json.loads(call["function"]["arguments"]) == {"city": "Oslo"}
    assert parse_tool_calls(f"{OPEN}not json</tool_call>") == (f"{OPEN}not json</tool_call>", [])
    assert parse_tool_calls(text, ["clock"]) == (text, [])          # a function nobody offered
    ts = ToolStream()
    # a partial tag is held back until it is surely not a call
    assert ts.feed("Hi <tool") == "Hi " and ts.feed("kit") == "<toolkit"
    assert ts.feed(" " + text[:20]) == " Let me look. " and ts.feed(text[20:]) == ""
    assert ts.finish()[1][0]["function"]["name"] == "weather"


def test_tools_reach_the_prompt_in_the_default_and_in_the_templates_format(tmp_path):
    from llmlab.serve.random_model import byte_bpe_tokenizer

    tok = byte_bpe_tokenizer("some text to train on", 270)
    plain = render_tools(tok, ASK, [WEATHER])
    assert '"name": "weather"' in plain and OPEN in plain and plain.endswith("assistant:")
    tok.chat_template = ("{% for t in tools %}TOOL {{ t.function.name }};{% endfor %}"
                         "{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}")
    assert render_tools(tok, ASK, [WEATHER, CLOCK]) == "TOOL weather;TOOL clock;user=weather in Paris?;"


def test_the_openai_backend_calls_tools_natively(client):
    from llmlab.generation import SamplingParams
    from llmlab.llm import load_llm

    llm = load_llm("openai:" + str(client.base_url).rstrip("/"))
    assert llm.native_tools
    reply = llm.chat_tools(ASK, [WEATHER, CLOCK], SamplingParams(temperature=0, max_new_tokens=120),
                           tool_choice={"type": "function", "function": {"name": "clock"}})
    assert reply.finish_reason == "tool_calls" and [c["name"] for c in reply.tool_calls] == ["clock"]
    jsonschema.validate(json.loads(reply.tool_calls[0]["arguments"]), CLOCK["function"]["parameters"])


class _Scripted:
    """An LLM with native tool calls that asks the calculator once, then answers with what the tool said."""

    def __init__(self, native=True):
        from llmlab.llm.base import LLM, Delta, ToolReply, ToolsUnsupported

        class Scripted(LLM):
            native_tools = True
            seen: list = []
            context_window = 4096

            def count_tokens(self, text):
                return len(text)

            def _generate(self, prompt, params):       # the ReAct path: answer at once
                yield Delta("Final Answer: react", "stop")

            def chat_tools(self, messages, tools, params=None, tool_choice="auto"):
                if not native:
                    raise ToolsUnsupported("no tools here")
                self.seen.append([dict(m) for m in messages])
                assert [t["function"]["name"] for t in tools] == ["calculator"] and not params.stop
                tool = [m for m in messages if m["role"] == "tool"]
                if not tool:
                    return ToolReply("", [{"id": "c1", "name": "calculator",
                                           "arguments": '{"expression": "6 * 7"}'}], "tool_calls")
                assert tool[0]["tool_call_id"] == "c1"
                return ToolReply(f"It is {tool[0]['content']}.", [], "stop")

        self.llm = Scripted()


@pytest.mark.parametrize("native", [True, False])
def test_the_agent_uses_native_tool_calls_when_offered(native):
    from llmlab.agents.agent import Agent, AgentConfig
    from llmlab.agents.tools import build_tools

    llm = _Scripted(native).llm
    result = Agent(llm, build_tools(["calculator"]), config=AgentConfig(mode="chat")).run("6 times 7?")
    if native:
        assert result.answer == "It is 42." and result.tool_calls == 1
        assert result.steps[0].observation == "42" and len(llm.seen) == 2
        assert llm.seen[1][-2]["tool_calls"][0]["function"]["name"] == "calculator"
    else:                                      # the server refused tools: the ReAct protocol answered
        assert result.answer == "react" and result.tool_calls == 0


def test_200_concurrent_mixed_requests_all_complete_correctly(server, model_dir):
    """Plain (sampled, with a repetition penalty: not speculated), speculative (greedy: equal to the engine
    without speculation), constrained (valid for the schema) and tool calls (valid arguments), all at once."""
    from openai import AsyncOpenAI

    from llmlab.generation import SamplingParams

    prompts = ["ab ab ab ab", "The quick brown fox. The quick", "hello", "0 1 2 3 0 1 2", "xyz"]
    expected = [c.text for c in new_engine(model_dir).generate(prompts, SamplingParams(temperature=0,
                                                                                       max_new_tokens=8))]
    schema = {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 9},
                                               "b": {"enum": ["x", "y"]}}, "required": ["a", "b"],
              "additionalProperties": False}
    aclient = AsyncOpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=300)

    async def one(i):
        kind = ("plain", "speculative", "constrained", "tool")[i % 4]
        if kind == "plain":
            out = await aclient.completions.create(model="tiny", prompt=prompts[i % 5], max_tokens=8, seed=i,
                                                   temperature=1.0, extra_body={"repetition_penalty": 1.2})
            assert out.choices[0].finish_reason == "length" and out.usage.completion_tokens == 8
        elif kind == "speculative":
            out = await aclient.completions.create(model="tiny", prompt=prompts[i % 5], max_tokens=8,
                                                   temperature=0)
            assert out.choices[0].text == expected[i % 5]
        elif kind == "constrained":
            out = await aclient.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": prompts[i % 5]}], max_tokens=40,
                temperature=1.0, seed=i, response_format={"type": "json_schema",
                                                          "json_schema": {"name": "s", "schema": schema}})
            assert out.choices[0].finish_reason == "stop"
            jsonschema.validate(json.loads(out.choices[0].message.content), schema)
        else:
            out = await aclient.chat.completions.create(model="tiny", messages=ASK, tools=[WEATHER],
                                                        tool_choice="required", max_tokens=120,
                                                        temperature=1.0, seed=i)
            assert out.choices[0].finish_reason == "tool_calls", out.choices[0]
            [call] = out.choices[0].message.tool_calls
            _args_valid(call, WEATHER)
        return kind

    async def all_of_them():
        try:
            return await asyncio.gather(*(one(i) for i in range(200)))
        finally:
            await aclient.close()

    kinds = asyncio.run(all_of_them())
    assert sorted(set(kinds)) == ["constrained", "plain", "speculative", "tool"] and len(kinds) == 200
    stats = server.app.state.served.engine.stats()
    assert stats["spec_verifications"] > 0 and stats["kv_blocks_in_use"] == 0
    # what `llmlab bench serve` adds to its summary, read from /metrics
    from llmlab.serve.bench import speculation

    figures = speculation(server.url)
    assert figures["spec_draft_tokens"] == stats["spec_draft_tokens"] > 0
    assert figures["spec_acceptance_rate"] == pytest.approx(stats["spec_acceptance_rate"])
