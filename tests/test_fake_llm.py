"""The fake LLM server, driven by the real ``openai`` and ``anthropic`` SDKs over HTTP on 127.0.0.1.

These pin what the later ``posthog.ai`` wrappers will rely on: each endpoint streamed and not, tool
calls, usage (including null details), a response model that differs from the request, provider
errors, broken streams, and the recording of what the SDK sent. Clients are built with
``max_retries=0`` unless a test is about retries.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, Optional

import anthropic

try:  # the SDKs moved from httpx to its successor httpx2
    import httpx2
except ImportError:  # pragma: no cover - older SDK releases
    import httpx as httpx2  # type: ignore[no-redef]
import openai
import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion

from tests.fake_llm import (
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_MESSAGES_MODEL,
    DEFAULT_TEXT,
    Drop,
    Failure,
    FakeLLM,
    Reply,
    ToolCall,
    Usage,
)

USER: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = ToolCall("get_weather", {"city": "Paris", "unit": "celsius"}, id="call_w1")
OPENAI_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM(max_lifetime=60) as fake:
        yield fake
    assert fake.handler_errors == []


@pytest.fixture
def oai(llm: FakeLLM) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm.url + "/v1", api_key="test", max_retries=0, timeout=10) as client:
        yield client


@pytest.fixture
def claude(llm: FakeLLM) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=llm.url, api_key="test", max_retries=0, timeout=10) as client:
        yield client


def _async_oai(llm: FakeLLM) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=llm.url + "/v1", api_key="test", max_retries=0, timeout=10)


def _async_claude(llm: FakeLLM) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=llm.url, api_key="test", max_retries=0, timeout=10)


# -- OpenAI chat completions -----------------------------------------------------------------------


def test_chat_default_reply_echoes_the_model_and_carries_full_usage(oai: openai.OpenAI, llm: FakeLLM) -> None:
    completion = oai.chat.completions.create(model="gpt-4o", messages=USER)

    assert completion.model == "gpt-4o"
    choice = completion.choices[0]
    assert (choice.message.content, choice.finish_reason) == (DEFAULT_TEXT, "stop")
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 5, 15)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0
    assert completion._request_id == "req_fake1"
    recorded = llm.last
    assert (recorded.method, recorded.path, recorded.status) == ("POST", "/v1/chat/completions", 200)
    assert recorded.json == {"model": "gpt-4o", "messages": USER}
    assert recorded.header("authorization") == "Bearer test"


def test_chat_scripted_text_model_and_usage_details(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(
        text="Sunny.",
        model="gpt-4o-2024-08-06",
        usage=Usage(input_tokens=120, output_tokens=30, cached_tokens=100, reasoning_tokens=12),
    )

    completion = oai.chat.completions.create(model="gpt-4o", messages=USER)

    assert (completion.model, completion.choices[0].message.content) == ("gpt-4o-2024-08-06", "Sunny.")
    usage = completion.usage
    assert usage is not None and usage.total_tokens == 150
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 100
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 12


def test_chat_usage_details_can_be_null_or_absent(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.script(
        Reply(usage=Usage(details=False)),
        Reply(usage=Usage(cached_tokens=None, reasoning_tokens=None)),
        Reply(usage=None),
    )

    no_details = oai.chat.completions.create(model="m", messages=USER).usage
    null_counts = oai.chat.completions.create(model="m", messages=USER).usage
    no_usage = oai.chat.completions.create(model="m", messages=USER).usage

    assert no_details is not None
    assert (no_details.prompt_tokens_details, no_details.completion_tokens_details) == (None, None)
    assert null_counts is not None and null_counts.prompt_tokens_details is not None
    assert null_counts.prompt_tokens_details.cached_tokens is None
    assert null_counts.completion_tokens_details is not None
    assert null_counts.completion_tokens_details.reasoning_tokens is None
    assert no_usage is None


def test_chat_model_is_returned_when_the_request_has_none(oai: openai.OpenAI) -> None:
    completion = oai.post("/chat/completions", cast_to=ChatCompletion, body={"messages": USER})

    assert completion.model == DEFAULT_CHAT_MODEL


def test_chat_tool_calls_non_streamed(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(tool_calls=[WEATHER, ToolCall("get_time", '{"tz":"CET"}')])

    completion = oai.chat.completions.create(model="m", messages=USER, tools=OPENAI_TOOLS)

    message = completion.choices[0].message
    assert (message.content, completion.choices[0].finish_reason) == (None, "tool_calls")
    calls = message.tool_calls
    assert calls is not None
    assert [(c.id, c.type, c.function.name) for c in calls] == [  # type: ignore[union-attr]
        ("call_w1", "function", "get_weather"),
        ("call_fake1_1", "function", "get_time"),
    ]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}  # type: ignore[union-attr]
    assert calls[1].function.arguments == '{"tz":"CET"}'  # type: ignore[union-attr]
    assert llm.last.json["tools"] == OPENAI_TOOLS


def test_chat_stream_splits_text_into_the_scripted_chunks(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(text="The weather is sunny.", chunks=4, model="gpt-4o-mini-2024")

    stream = oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)

    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert len(pieces) == 4 and "".join(p or "" for p in pieces) == "The weather is sunny."
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.model for c in chunks} == {"gpt-4o-mini-2024"}
    assert all(c.usage is None for c in chunks)
    assert "stream_options" not in llm.last.json


def test_chat_stream_include_usage_sends_a_final_usage_chunk(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(usage=Usage(input_tokens=40, output_tokens=8, cached_tokens=32, reasoning_tokens=3))

    chunks = list(
        oai.chat.completions.create(
            model="m",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert llm.last.json["stream_options"] == {"include_usage": True}
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (40, 8, 48)
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == 32
    assert last.usage.completion_tokens_details is not None
    assert last.usage.completion_tokens_details.reasoning_tokens == 3
    assert all(c.usage is None for c in body)


def test_chat_stream_tool_calls_arrive_in_indexed_fragments(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(tool_calls=[WEATHER, ToolCall("get_time", {"tz": "CET"})], chunks=3)

    stream = oai.chat.completions.create(model="m", messages=USER, tools=OPENAI_TOOLS, stream=True)

    fragments = [d for c in stream for d in (c.choices[0].delta.tool_calls or []) if c.choices]
    assert len(fragments) == 2 * (1 + 3)
    openings = [f for f in fragments if f.id is not None]
    assert [(f.index, f.id, f.function.name) for f in openings] == [  # type: ignore[union-attr]
        (0, "call_w1", "get_weather"),
        (1, "call_fake1_1", "get_time"),
    ]
    assert all(f.function is not None and f.function.name is None for f in fragments if f.id is None)
    arguments = {0: "", 1: ""}
    for fragment in fragments:
        assert fragment.function is not None
        arguments[fragment.index] += fragment.function.arguments or ""
    assert json.loads(arguments[0]) == {"city": "Paris", "unit": "celsius"}
    assert json.loads(arguments[1]) == {"tz": "CET"}


def test_chat_stream_helper_accumulates_the_final_completion(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(text="Hi!", tool_calls=[WEATHER])

    with oai.chat.completions.stream(
        model="m",
        messages=USER,
        tools=OPENAI_TOOLS,
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()

    message = final.choices[0].message
    assert message.content == "Hi!"
    assert message.tool_calls is not None and message.tool_calls[0].function.name == "get_weather"
    assert final.usage is not None and final.usage.total_tokens == 15


def test_chat_path_without_v1_prefix(llm: FakeLLM) -> None:
    with openai.OpenAI(base_url=llm.url, api_key="test", max_retries=0) as client:
        completion = client.chat.completions.create(model="m", messages=USER)

    assert completion.choices[0].message.content == DEFAULT_TEXT
    assert llm.last.path == "/chat/completions"


def test_chat_async_plain_and_streamed(llm: FakeLLM) -> None:
    llm.script(Reply(text="one"), Reply(text="two", chunks=2))

    async def run() -> tuple[str | None, list[str]]:
        async with _async_oai(llm) as client:
            plain = await client.chat.completions.create(model="m", messages=USER)
            stream = await client.chat.completions.create(
                model="m",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
            )
            assert isinstance(stream, openai.AsyncStream)
            pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return plain.choices[0].message.content, pieces

    content, pieces = asyncio.run(run())

    assert content == "one"
    assert pieces == ["", "tw", "o", ""]


# -- OpenAI responses ------------------------------------------------------------------------------


def test_responses_non_streamed_message_and_function_call(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(
        text="Checking.",
        tool_calls=[WEATHER],
        model="gpt-4.1-2025",
        usage=Usage(input_tokens=50, output_tokens=20, cached_tokens=16, reasoning_tokens=4),
    )

    response = oai.responses.create(model="gpt-4.1", input="weather?", instructions="Be brief.")

    assert (response.model, response.status, response.output_text) == (
        "gpt-4.1-2025",
        "completed",
        "Checking.",
    )
    message, call = response.output
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "output_text"
    assert call.type == "function_call"
    assert (call.name, call.call_id, json.loads(call.arguments)) == (
        "get_weather",
        "call_w1",
        WEATHER.arguments,
    )
    usage = response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (50, 20, 70)
    assert usage.input_tokens_details.cached_tokens == 16
    assert usage.output_tokens_details.reasoning_tokens == 4
    assert response.instructions == "Be brief."
    assert llm.last.path == "/v1/responses"


def test_responses_null_details_and_omitted_model(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(usage=Usage(details=False))

    response = oai.responses.create(input="hi")

    assert response.model == DEFAULT_CHAT_MODEL
    assert "model" not in llm.last.json
    assert response.usage is not None
    assert response.usage.input_tokens_details is None
    assert response.usage.output_tokens_details is None


def test_responses_stream_sends_typed_events_ending_with_completed(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(
        text="Sunny today", chunks=2, tool_calls=[WEATHER], usage=Usage(input_tokens=7, output_tokens=3)
    )

    events = list(oai.responses.create(model="m", input="hi", stream=True))

    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 2
    assert types.count("response.function_call_arguments.delta") == 2
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Sunny today"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None
    assert (completed.response.usage.input_tokens, completed.response.usage.output_tokens) == (7, 3)
    assert events[0].type == "response.created" and events[0].response.usage is None


def test_responses_stream_helper_and_async_stream(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.script(Reply(text="sync text", tool_calls=[WEATHER]), Reply(text="async text", chunks=5))

    with oai.responses.stream(model="m", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()

    async def run() -> tuple[list[str], str]:
        async with _async_oai(llm) as client:
            events = [e async for e in await client.responses.create(model="m", input="hi", stream=True)]
            completed = events[-1]
            assert completed.type == "response.completed"
            return [e.type for e in events], completed.response.output_text

    async_types, async_text = asyncio.run(run())

    assert "".join(deltas) == final.output_text == "sync text"
    assert final.output[-1].type == "function_call"
    assert async_types.count("response.output_text.delta") == 5
    assert async_text == "async text"


# -- OpenAI embeddings -----------------------------------------------------------------------------


def test_embeddings_for_a_string_and_a_list(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(usage=Usage(input_tokens=3))

    single = oai.embeddings.create(model="text-embedding-3-small", input="hello")
    several = oai.embeddings.create(model="text-embedding-3-small", input=["hello", "world"], dimensions=4)

    assert (len(single.data), len(single.data[0].embedding)) == (1, 8)
    assert (single.usage.prompt_tokens, single.usage.total_tokens) == (3, 3)
    assert single.model == "text-embedding-3-small"
    assert [(d.index, len(d.embedding)) for d in several.data] == [(0, 4), (1, 4)]
    assert several.data[0].embedding == single.data[0].embedding[:4]
    assert several.usage.prompt_tokens == 10


def test_embeddings_base64_default_matches_float_format(oai: openai.OpenAI, llm: FakeLLM) -> None:
    decoded = oai.embeddings.create(model="e", input="hello")
    as_floats = oai.embeddings.create(model="e", input="hello", encoding_format="float")

    first, second = llm.requests_to("embeddings")
    assert first.json["encoding_format"] == "base64"  # the SDK asks for base64 and decodes it
    assert second.json["encoding_format"] == "float"
    assert decoded.data[0].embedding == as_floats.data[0].embedding


def test_embeddings_async_with_model_from_script(llm: FakeLLM) -> None:
    llm.reply(model="text-embedding-3-large")

    async def run() -> Any:
        async with _async_oai(llm) as client:
            return await client.embeddings.create(model="e", input=["a", "b", "c"])

    result = asyncio.run(run())

    assert (result.model, len(result.data)) == ("text-embedding-3-large", 3)
    assert result.model != DEFAULT_EMBEDDING_MODEL


# -- Anthropic messages ----------------------------------------------------------------------------


def test_messages_non_streamed_text_tool_use_and_usage(claude: anthropic.Anthropic, llm: FakeLLM) -> None:
    llm.reply(
        text="Let me check.",
        tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_1")],
        model="claude-sonnet-4-20250514",
        usage=Usage(input_tokens=90, output_tokens=25, cached_tokens=64, cache_creation_tokens=8),
    )

    message = claude.messages.create(model="claude-sonnet-4", max_tokens=100, messages=USER)

    assert (message.model, message.stop_reason, message.role) == (
        "claude-sonnet-4-20250514",
        "tool_use",
        "assistant",
    )
    text, tool = message.content
    assert text.type == "text" and text.text == "Let me check."
    assert tool.type == "tool_use" and (tool.id, tool.name, tool.input) == (
        "toolu_1",
        "get_weather",
        {"city": "Paris"},
    )
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (90, 25)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (64, 8)
    assert message._request_id == "req_fake1"
    recorded = llm.last
    assert recorded.path == "/v1/messages"
    # anthropic 2.x sends the key as "Authorization: Bearer"; older releases sent "x-api-key".
    assert "test" in (
        recorded.header("x-api-key"),
        (recorded.header("authorization") or "").removeprefix("Bearer "),
    )
    assert recorded.header("anthropic-version") is not None
    assert recorded.json["max_tokens"] == 100


def test_messages_null_cache_details_and_omitted_model(claude: anthropic.Anthropic, llm: FakeLLM) -> None:
    llm.reply(usage=Usage(details=False))

    message = claude.post("/v1/messages", cast_to=Message, body={"max_tokens": 5, "messages": USER})

    assert message.model == DEFAULT_MESSAGES_MODEL
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (None, None)
    assert message.stop_reason == "end_turn"


def test_messages_raw_stream_named_events(claude: anthropic.Anthropic, llm: FakeLLM) -> None:
    llm.reply(
        text="Hi",
        tool_calls=[ToolCall("get_weather", {"city": "Paris"})],
        chunks=2,
        usage=Usage(input_tokens=30, output_tokens=12, cached_tokens=5),
    )

    stream = claude.messages.create(model="c", max_tokens=5, messages=USER, stream=True)

    assert isinstance(stream, anthropic.Stream)
    events = list(stream)
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and start.message.usage.input_tokens == 30
    assert start.message.usage.cache_read_input_tokens == 5
    assert delta.type == "message_delta"
    assert (delta.usage.output_tokens, delta.delta.stop_reason) == (12, "tool_use")
    partial = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert json.loads(partial) == {"city": "Paris"}


def test_messages_stream_helper_text_stream_and_final_message(
    claude: anthropic.Anthropic, llm: FakeLLM
) -> None:
    llm.reply(text="Sunny in Paris", chunks=3, tool_calls=[ToolCall("log", {"n": 1})])

    with claude.messages.stream(model="c", max_tokens=5, messages=USER) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
        text = stream.get_final_text()

    assert pieces == ["Sunny", " in P", "aris"]
    assert text == "Sunny in Paris"
    assert final.content[1].type == "tool_use" and final.content[1].input == {"n": 1}
    assert (final.usage.input_tokens, final.usage.output_tokens, final.stop_reason) == (10, 5, "tool_use")


def test_messages_async_create_stream_and_stream_helper(llm: FakeLLM) -> None:
    llm.script(Reply(text="abc", chunks=3), Reply(text="xyz", model="claude-x-2"))

    async def run() -> tuple[list[str], str, Any]:
        async with _async_claude(llm) as client:
            raw = await client.messages.create(model="c", max_tokens=5, messages=USER, stream=True)
            assert isinstance(raw, anthropic.AsyncStream)
            types: list[str] = [e.type async for e in raw]
            async with client.messages.stream(model="c", max_tokens=5, messages=USER) as stream:
                text = "".join([t async for t in stream.text_stream])
                final = await stream.get_final_message()
            return types, text, final

    types, text, final = asyncio.run(run())

    assert types.count("content_block_delta") == 3 and types[-1] == "message_stop"
    assert (text, final.model) == ("xyz", "claude-x-2")


# -- errors, retries and broken streams ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exc_type", "error_type"),
    [
        (400, openai.BadRequestError, "invalid_request_error"),
        (401, openai.AuthenticationError, "invalid_request_error"),
        (404, openai.NotFoundError, "invalid_request_error"),
        (429, openai.RateLimitError, "rate_limit_error"),
        (500, openai.InternalServerError, "server_error"),
    ],
)
def test_openai_errors_raise_the_sdk_class(
    oai: openai.OpenAI, llm: FakeLLM, status: int, exc_type: type[openai.APIStatusError], error_type: str
) -> None:
    llm.fail_next(status, code="fake_code")

    with pytest.raises(exc_type) as info:
        oai.chat.completions.create(model="m", messages=USER)

    assert (info.value.status_code, info.value.type, info.value.code) == (status, error_type, "fake_code")
    assert info.value.request_id == "req_fake1"
    assert llm.last.status == status


@pytest.mark.parametrize(
    ("status", "exc_type", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_errors_raise_the_sdk_class(
    claude: anthropic.Anthropic,
    llm: FakeLLM,
    status: int,
    exc_type: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    llm.fail_next(status, message="nope")

    with pytest.raises(exc_type) as info:
        claude.messages.create(model="c", max_tokens=5, messages=USER, stream=True)

    assert info.value.status_code == status
    assert info.value.body == {
        "type": "error",
        "error": {"type": error_type, "message": "nope"},
        "request_id": "req_fake1",
    }


def test_failures_are_used_up_in_order_and_retries_see_them(llm: FakeLLM) -> None:
    llm.fail_next(429, times=2, retry_after=0.01)
    llm.reply(text="third time")

    with openai.OpenAI(base_url=llm.url + "/v1", api_key="test", max_retries=2) as client:
        completion = client.chat.completions.create(model="m", messages=USER)

    assert completion.choices[0].message.content == "third time"
    assert [r.status for r in llm.requests] == [429, 429, 200]
    assert [r.header("x-stainless-retry-count") for r in llm.requests] == ["0", "1", "2"]
    assert llm.pending == 0


def test_failed_stream_request_raises_at_create(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.fail_next(503)

    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="m", messages=USER, stream=True)


def test_openai_broken_streams_raise(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.script(Reply(text="abcdef", chunks=6, break_after=3), Reply(break_after=4))
    received: list[str] = []

    with pytest.raises(Exception) as chat:  # the class is the SDK's: see _cut_short
        for chunk in oai.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    with pytest.raises(Exception) as responses:
        list(oai.responses.create(model="m", input="hi", stream=True))

    assert received == ["", "a", "b"]
    assert _cut_short(chat.value), repr(chat.value)
    assert _cut_short(responses.value), repr(responses.value)


def _cut_short(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was caused by, a body the server cut short.

    Which class reaches the caller is the SDK's choice and changes between releases (anthropic
    < 2.17 let httpx's RemoteProtocolError through, later releases wrap it in APIConnectionError),
    so the tests of the fake server look for the protocol error anywhere in the chain.
    """
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, httpx2.RemoteProtocolError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def test_anthropic_broken_streams_raise(claude: anthropic.Anthropic, llm: FakeLLM) -> None:
    llm.script(Reply(break_after=4), Reply(break_after=5))
    events: list[str] = []

    with pytest.raises(Exception) as created:
        for event in claude.messages.create(model="c", max_tokens=5, messages=USER, stream=True):
            events.append(event.type)
    with pytest.raises(Exception) as streamed:  # noqa: SIM117 - the stream must be entered to fail
        with claude.messages.stream(model="c", max_tokens=5, messages=USER) as stream:
            stream.get_final_message()

    assert _cut_short(created.value), repr(created.value)
    assert _cut_short(streamed.value), repr(streamed.value)
    assert events == ["message_start", "content_block_start", "content_block_delta"]  # ping is skipped


def test_async_broken_streams_raise(llm: FakeLLM) -> None:
    llm.script(Reply(break_after=2), Reply(break_after=3))

    async def run() -> list[BaseException]:
        raised: list[BaseException] = []
        async with _async_oai(llm) as client:
            try:
                async for _ in await client.chat.completions.create(model="m", messages=USER, stream=True):
                    pass
            except Exception as exc:  # the class is the SDK's: see _cut_short
                raised.append(exc)
        async with _async_claude(llm) as other:
            try:
                async with other.messages.stream(model="c", max_tokens=5, messages=USER) as stream:
                    await stream.get_final_message()
            except Exception as exc:
                raised.append(exc)
        return raised

    raised = asyncio.run(run())

    assert len(raised) == 2
    assert all(_cut_short(exc) for exc in raised), raised


def test_stream_error_events_raise_provider_errors(
    oai: openai.OpenAI, claude: anthropic.Anthropic, llm: FakeLLM
) -> None:
    llm.script(
        Reply(break_after=2, stream_error=Failure(500, "boom")),
        Reply(break_after=3, stream_error=Failure(529)),
        Reply(break_after=2, stream_error=Failure(500, "bad")),
    )

    with pytest.raises(openai.APIError, match="boom") as oai_info:
        list(oai.chat.completions.create(model="m", messages=USER, stream=True))
    with pytest.raises(anthropic.APIStatusError) as claude_info:
        list(claude.messages.create(model="c", max_tokens=5, messages=USER, stream=True))

    # A Responses stream yields its `error` event as a ResponseErrorEvent instead of raising.
    events = list(oai.responses.create(model="m", input="hi", stream=True))
    assert [e.type for e in events] == ["response.created", "response.in_progress", "error"]
    assert events[-1].type == "error" and events[-1].message == "bad"
    assert not isinstance(oai_info.value, openai.APIStatusError)
    assert claude_info.value.status_code == 200  # the HTTP status: the error came inside the stream
    body = claude_info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "overloaded_error"


def test_dropped_connections_raise_connection_errors(
    oai: openai.OpenAI, claude: anthropic.Anthropic, llm: FakeLLM
) -> None:
    llm.drop_next(2)

    with pytest.raises(openai.APIConnectionError):
        oai.embeddings.create(model="e", input="x")
    with pytest.raises(anthropic.APIConnectionError):
        claude.messages.create(model="c", max_tokens=5, messages=USER)

    assert [r.status for r in llm.requests] == [None, None]


# -- scripting, recording and lifecycle ------------------------------------------------------------


def test_raw_response_exposes_headers_and_parses(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="m", messages=USER)
    claude_raw = claude.messages.with_raw_response.create(model="c", max_tokens=5, messages=USER)

    assert raw.headers["x-request-id"] == "req_fake1"
    assert raw.parse().choices[0].message.content == DEFAULT_TEXT
    assert claude_raw.headers["request-id"] == "req_fake2"
    assert claude_raw.parse().content[0].type == "text"


def test_responder_answers_from_the_request_when_nothing_is_scripted(
    oai: openai.OpenAI, llm: FakeLLM
) -> None:
    llm.responder = lambda request: Reply(text=f"echo: {request.json['messages'][-1]['content']}")
    llm.reply(text="scripted first")

    first = oai.chat.completions.create(model="m", messages=USER)
    second = oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "ping"}])

    assert first.choices[0].message.content == "scripted first"
    assert second.choices[0].message.content == "echo: ping"


def test_a_failing_responder_is_reported_and_answered_500(llm: FakeLLM) -> None:
    def responder(request: Any) -> Reply:
        raise KeyError("no such scenario")

    llm.responder = responder
    client = anthropic.Anthropic(base_url=llm.url, api_key="test", max_retries=0)
    with client, pytest.raises(anthropic.InternalServerError):
        client.messages.create(model="c", max_tokens=5, messages=USER)

    assert len(llm.handler_errors) == 1 and "no such scenario" in llm.handler_errors[0]
    llm.handler_errors.clear()  # the fixture checks that nothing else went wrong


def test_latency_delays_the_answer(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.reply(latency=0.2)
    started = time.monotonic()

    oai.chat.completions.create(model="m", messages=USER)

    assert time.monotonic() - started >= 0.2


def test_unknown_routes_get_404_without_using_the_script(oai: openai.OpenAI, llm: FakeLLM) -> None:
    llm.script(Drop())

    with pytest.raises(openai.NotFoundError):
        oai.models.list()

    assert llm.pending == 1
    assert llm.last.path == "/v1/models"


def test_concurrent_requests_are_all_recorded(llm: FakeLLM) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with openai.OpenAI(base_url=llm.url + "/v1", api_key="test", max_retries=0) as client:
                for i in range(5):
                    client.chat.completions.create(model=f"m{n}-{i}", messages=USER)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    models = sorted(r.json["model"] for r in llm.wait_for_requests(30))
    assert models == sorted(f"m{n}-{i}" for n in range(6) for i in range(5))


def test_close_cuts_an_open_stream_promptly(llm: FakeLLM) -> None:
    llm.reply(text="slow stream", chunks=10, chunk_delay=5.0)
    outcome: list[BaseException] = []

    def consume() -> None:
        with openai.OpenAI(base_url=llm.url + "/v1", api_key="test", max_retries=0) as client:
            try:
                list(client.chat.completions.create(model="m", messages=USER, stream=True))
            except Exception as exc:  # the class is the SDK's: see _cut_short
                outcome.append(exc)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    llm.wait_for_requests(1)
    started = time.monotonic()
    llm.close()
    thread.join(5)

    assert time.monotonic() - started < 2.0
    assert not thread.is_alive() and len(outcome) == 1
    assert _cut_short(outcome[0]), repr(outcome[0])
    assert llm.closed


def test_max_lifetime_stops_a_forgotten_server() -> None:
    fake = FakeLLM(max_lifetime=0.2).start()
    deadline = time.monotonic() + 3
    while not fake.closed and time.monotonic() < deadline:
        time.sleep(0.02)

    assert fake.closed
    with pytest.raises(RuntimeError):
        FakeLLM().port  # noqa: B018 - not started


def test_script_validation() -> None:
    with pytest.raises(ValueError):
        Reply(chunks=0)
    with pytest.raises(ValueError):
        Reply(break_after=-1)
    with FakeLLM(max_lifetime=10) as fake, pytest.raises(ValueError):
        fake.fail_next(500, times=0)
