"""posthog.ai.openai with the real OpenAI SDK against a fake provider on 127.0.0.1.

Events are read from a ``RecordingClient`` (exactly what would be sent); one test goes through
the fake PostHog as well. Spec: integrations.md §4; issue 12's list of 3.25.0 bugs.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import posthog
from posthog.ai.openai import AsyncOpenAI, OpenAI
from posthog.testing import RecordingClient
from tests.fake_llm import FakeLLM, ToolCall, Usage
from tests.fake_server import FakePostHog

MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def recorder() -> RecordingClient:
    return RecordingClient("phc_ai")


def _client(llm: FakeLLM, ph: Any) -> OpenAI:
    return OpenAI(posthog_client=ph, base_url=llm.url + "/v1", api_key="test", max_retries=0)


def _aclient(llm: FakeLLM, ph: Any) -> AsyncOpenAI:
    return AsyncOpenAI(posthog_client=ph, base_url=llm.url + "/v1", api_key="test", max_retries=0)


def _only(recorder: RecordingClient, event: str = "$ai_generation") -> dict[str, Any]:
    events = [e for e in recorder.events if e["event"] == event]
    assert len(events) == 1, events
    return events[0]


def test_chat_completion_is_reported_with_its_usage_and_parameters(
    llm: FakeLLM, recorder: RecordingClient
) -> None:
    llm.reply(
        text="Hello!", usage=Usage(input_tokens=12, output_tokens=3, cached_tokens=4, reasoning_tokens=2)
    )
    client = _client(llm, recorder)

    result = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50, posthog_distinct_id="user-1"
    )

    assert result.choices[0].message.content == "Hello!"
    event = _only(recorder)
    props = event["properties"]
    assert event["distinct_id"] == "user-1"
    assert props["$ai_provider"] == "openai"
    assert props["$ai_model"] == "gpt-4o-mini"
    assert props["$ai_model_parameters"] == {"temperature": 0.2, "max_tokens": 50}
    assert props["$ai_input"] == MESSAGES
    assert props["$ai_output_choices"] == [{"role": "assistant", "content": "Hello!"}]
    assert (props["$ai_input_tokens"], props["$ai_output_tokens"]) == (12, 3)
    assert props["$ai_cache_read_input_tokens"] == 4
    assert props["$ai_reasoning_tokens"] == 2
    assert props["$ai_http_status"] == 200
    assert props["$ai_base_url"].startswith(llm.url)
    assert props["$ai_latency"] > 0
    uuid.UUID(props["$ai_trace_id"])  # generated
    assert "$process_person_profile" not in props


def test_without_a_distinct_id_the_trace_id_is_used_and_no_profile_is_processed(
    llm: FakeLLM, recorder: RecordingClient
) -> None:
    client = _client(llm, recorder)
    client.chat.completions.create(
        model="m", messages=MESSAGES, posthog_trace_id="trace-1", posthog_properties={"team": "core"}
    )
    event = _only(recorder)
    assert event["distinct_id"] == "trace-1"
    assert event["properties"]["$process_person_profile"] is False
    assert event["properties"]["team"] == "core"


def test_tool_calls_and_tools_are_reported(llm: FakeLLM, recorder: RecordingClient) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    llm.reply(tool_calls=[ToolCall("weather", {"city": "Paris"}, id="call_1")])
    client = _client(llm, recorder)
    client.chat.completions.create(model="m", messages=MESSAGES, tools=tools)
    props = _only(recorder)["properties"]
    assert props["$ai_tools"] == tools
    [choice] = props["$ai_output_choices"]
    assert choice["tool_calls"] == [
        {"type": "function", "id": "call_1", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
    ]


def test_streaming_keeps_the_sdk_contract_and_reports_once_with_usage(
    llm: FakeLLM, recorder: RecordingClient
) -> None:
    llm.reply(text="streamed text", chunks=4, usage=Usage(input_tokens=7, output_tokens=2))
    client = _client(llm, recorder)

    with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        assert isinstance(stream, openai.Stream)
        assert stream.response.status_code == 200
        pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]

    assert "".join(pieces) == "streamed text"
    assert llm.last.json["stream_options"] == {"include_usage": True}
    props = _only(recorder)["properties"]
    assert props["$ai_output_choices"] == [{"role": "assistant", "content": "streamed text"}]
    assert (props["$ai_input_tokens"], props["$ai_output_tokens"]) == (7, 2)
    assert props["$ai_model_parameters"] == {"stream": True}


def test_streamed_tool_calls_are_assembled(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(tool_calls=[ToolCall("lookup", {"q": "posthog"}, id="call_9")], chunks=3)
    client = _client(llm, recorder)
    for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
        pass
    [choice] = _only(recorder)["properties"]["$ai_output_choices"]
    assert choice["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"q":"posthog"}'}
    assert choice["tool_calls"][0]["id"] == "call_9"


def test_a_stream_closed_early_is_reported_once(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="a fairly long answer", chunks=6)
    client = _client(llm, recorder)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    next(iter(stream))
    stream.close()
    stream.close()
    assert len(recorder.events) == 1


def test_chunks_handed_to_the_caller_are_not_modified(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="abcdef", chunks=3, tool_calls=[ToolCall("f", {"a": 1})])
    client = _client(llm, recorder)
    received, seen_then = [], []
    for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
        received.append(chunk)
        seen_then.append(chunk.model_dump())
    assert len(recorder.events) == 1  # the event was built from them...
    assert [c.model_dump() for c in received] == seen_then  # ...without touching any


def test_async_stream_through_async_with(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="async text", chunks=2)

    async def main() -> str:
        client = _aclient(llm, recorder)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        text = ""
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
        return text

    assert asyncio.run(main()) == "async text"
    assert _only(recorder)["properties"]["$ai_output_choices"][0]["content"] == "async text"


def test_provider_errors_are_reraised_unchanged_after_the_event(
    llm: FakeLLM, recorder: RecordingClient
) -> None:
    llm.fail_next(400, message="bad request")
    client = _client(llm, recorder)
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert raised.value.status_code == 400
    props = _only(recorder)["properties"]
    assert props["$ai_is_error"] is True
    assert props["$ai_http_status"] == 400
    assert "bad request" in props["$ai_error"]


def test_a_stream_interrupted_by_the_provider_raises_what_the_sdk_raises_and_is_reported(
    llm: FakeLLM, recorder: RecordingClient
) -> None:
    llm.reply(text="cut short here", chunks=5, break_after=2)
    llm.reply(text="cut short here", chunks=5, break_after=2)
    raw = openai.OpenAI(base_url=llm.url + "/v1", api_key="test", max_retries=0)
    wrapped = _client(llm, recorder)
    raised: list[BaseException] = []
    for client in (raw, wrapped):
        with pytest.raises(Exception) as info:
            for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                pass
        raised.append(info.value)

    expected, got = raised
    assert type(got) is type(expected)
    assert type(got.__cause__) is type(expected.__cause__)
    assert str(got) == str(expected)
    props = _only(recorder)["properties"]
    assert props["$ai_is_error"] is True


def test_embeddings_success_and_failure_are_both_reported(llm: FakeLLM, recorder: RecordingClient) -> None:
    client = _client(llm, recorder)
    client.embeddings.create(model="text-embedding-3-small", input="hello", posthog_distinct_id="u")
    llm.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="text-embedding-3-small", input="hello", posthog_distinct_id="u")
    ok, failed = [e["properties"] for e in recorder.events if e["event"] == "$ai_embedding"]
    assert ok["$ai_input"] == "hello" and ok["$ai_input_tokens"] > 0 and ok["$ai_http_status"] == 200
    assert failed["$ai_is_error"] is True and failed["$ai_http_status"] == 500


def test_responses_put_instructions_first_and_report_usage(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="done", usage=Usage(input_tokens=9, output_tokens=4, reasoning_tokens=3))
    client = _client(llm, recorder)
    client.responses.create(model="gpt-4.1", input="Do it", instructions="Be brief")
    props = _only(recorder)["properties"]
    assert props["$ai_input"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Do it"},
    ]
    assert props["$ai_output_choices"] == [{"role": "assistant", "content": "done"}]
    assert (props["$ai_input_tokens"], props["$ai_output_tokens"], props["$ai_reasoning_tokens"]) == (9, 4, 3)


def test_streamed_responses_report_tokens(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="streamed", usage=Usage(input_tokens=5, output_tokens=6))
    client = _client(llm, recorder)
    with client.responses.create(model="gpt-4.1", input="Hi", stream=True) as stream:
        for _ in stream:
            pass
    props = _only(recorder)["properties"]
    assert (props["$ai_input_tokens"], props["$ai_output_tokens"]) == (5, 6)
    assert props["$ai_output_choices"][0]["content"] == "streamed"


def test_privacy_mode_per_call_and_from_the_client(llm: FakeLLM) -> None:
    quiet = RecordingClient("phc_ai", privacy_mode=True)
    loud = RecordingClient("phc_ai")
    _client(llm, quiet).chat.completions.create(model="m", messages=MESSAGES)
    _client(llm, loud).chat.completions.create(model="m", messages=MESSAGES, posthog_privacy_mode=True)
    for recorder in (quiet, loud):
        props = _only(recorder)["properties"]
        assert props["$ai_input"] is None and props["$ai_output_choices"] is None


def test_base64_images_are_replaced_by_a_placeholder(llm: FakeLLM, recorder: RecordingClient) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 5000}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is this"}, image]}]
    _client(llm, recorder).chat.completions.create(model="m", messages=messages)
    sent = _only(recorder)["properties"]["$ai_input"][0]["content"][1]["image_url"]["url"]
    assert "AAAA" not in sent
    assert llm.last.json["messages"][0]["content"][1]["image_url"]["url"].endswith(
        "A" * 10
    )  # the call itself


def test_null_usage_details_do_not_break_the_event(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(usage=Usage(cached_tokens=None, reasoning_tokens=None, details=False))
    _client(llm, recorder).chat.completions.create(model="m", messages=MESSAGES)
    props = _only(recorder)["properties"]
    assert "$ai_cache_read_input_tokens" not in props and "$ai_reasoning_tokens" not in props


class _Broken:
    privacy_mode = False

    def capture(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("posthog is broken")


def test_a_posthog_failure_never_reaches_the_caller(llm: FakeLLM) -> None:
    llm.reply(text="fine")
    result = _client(llm, _Broken()).chat.completions.create(model="m", messages=MESSAGES)
    assert result.choices[0].message.content == "fine"


def test_the_wrapped_client_is_an_openai_client_and_needs_a_posthog_client(llm: FakeLLM) -> None:
    assert isinstance(_client(llm, RecordingClient("phc")), openai.OpenAI)
    with pytest.raises(ValueError, match="posthog_client"):
        OpenAI(base_url=llm.url + "/v1", api_key="test")


def test_events_reach_posthog(llm: FakeLLM) -> None:
    with FakePostHog() as server:
        ph = posthog.Client("phc_ai", host=server.url, flush_interval=0.05)
        try:
            _client(llm, ph).chat.completions.create(model="m", messages=MESSAGES, posthog_distinct_id="u")
            assert ph.flush(timeout=5) == 0
        finally:
            ph.shutdown(timeout=2)
        [event] = server.events()
    assert event["event"] == "$ai_generation" and event["distinct_id"] == "u"


@pytest.mark.parametrize(
    ("module", "sdk", "extra"),
    [
        ("openai", "openai", "openai"),
        ("anthropic", "anthropic", "anthropic"),
        ("langchain", "langchain_core", "langchain"),
    ],
)
def test_without_the_sdk_the_import_names_the_extra(module: str, sdk: str, extra: str) -> None:
    script = (
        f"import sys; sys.modules[{sdk!r}] = None\n"
        f"try:\n    import posthog.ai.{module}\nexcept ModuleNotFoundError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert f"posthog[{extra}]" in out.stdout


def test_import_posthog_imports_no_provider_sdk() -> None:
    script = (
        "import sys, posthog, posthog.ai\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'langchain_core') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_model_comes_from_the_response_when_the_request_has_none(
    llm: FakeLLM, recorder: RecordingClient
) -> None:
    llm.reply(text="from a stored prompt", model="gpt-4.1-2025-04-14")
    _client(llm, recorder).responses.create(prompt={"id": "pmpt_123"}, input="Hi")
    assert "model" not in llm.last.json
    assert _only(recorder)["properties"]["$ai_model"] == "gpt-4.1-2025-04-14"


@pytest.mark.parametrize("opt_in", [False, True])
def test_events_use_capture_unless_the_client_opts_in_to_the_ai_endpoint(llm: FakeLLM, opt_in: bool) -> None:
    with FakePostHog() as server:
        ph = posthog.Posthog("phc_ai", host=server.url, capture_ai_events=opt_in)
        _client(llm, ph).chat.completions.create(model="m", messages=MESSAGES, posthog_distinct_id="u")
        ph.shutdown()
        on_batch = [e["event"] for r in server.requests_to("/batch") for e in r.json["batch"]]
        on_ai = [e["event"] for e in server.ai_events()]
    assert (on_batch, on_ai) == (([], ["$ai_generation"]) if opt_in else (["$ai_generation"], []))
