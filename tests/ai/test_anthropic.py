"""posthog.ai.anthropic with the real Anthropic SDK against a fake provider on 127.0.0.1.

Spec: integrations.md §4; issue 12's list of 3.25.0 bugs (tool_use raised AttributeError,
``messages.stream()`` was not tracked, streaming lost the text and the input and cache tokens).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest

from posthog.ai.anthropic import Anthropic, AsyncAnthropic
from posthog.testing import RecordingClient
from tests.fake_llm import FakeLLM, ToolCall, Usage

MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def recorder() -> RecordingClient:
    return RecordingClient("phc_ai")


def _client(llm: FakeLLM, ph: Any) -> Anthropic:
    return Anthropic(posthog_client=ph, base_url=llm.url, api_key="test", max_retries=0)


def _only(recorder: RecordingClient) -> dict[str, Any]:
    events = [e for e in recorder.events if e["event"] == "$ai_generation"]
    assert len(events) == 1, events
    return events[0]["properties"]


def test_message_with_system_prompt_and_cache_tokens(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="Hello!", usage=Usage(12, 3, cached_tokens=4, cache_creation_tokens=2))
    message = _client(llm, recorder).messages.create(
        model="claude-x", max_tokens=50, messages=MESSAGES, system="Be kind", posthog_distinct_id="u"
    )
    assert message.content[0].text == "Hello!"
    props = _only(recorder)
    assert props["$ai_provider"] == "anthropic"
    assert props["$ai_input"] == [{"role": "system", "content": "Be kind"}, *MESSAGES]
    assert props["$ai_output_choices"] == [{"role": "assistant", "content": "Hello!"}]
    assert (props["$ai_input_tokens"], props["$ai_output_tokens"]) == (12, 3)
    assert (props["$ai_cache_read_input_tokens"], props["$ai_cache_creation_input_tokens"]) == (4, 2)
    assert props["$ai_model_parameters"] == {"max_tokens": 50}


def test_a_tool_use_answer_is_reported_not_raised(llm: FakeLLM, recorder: RecordingClient) -> None:
    tools = [{"name": "weather", "input_schema": {"type": "object"}}]
    llm.reply(text="Checking", tool_calls=[ToolCall("weather", {"city": "Paris"}, id="toolu_1")])
    message = _client(llm, recorder).messages.create(model="m", max_tokens=50, messages=MESSAGES, tools=tools)
    assert [block.type for block in message.content] == ["text", "tool_use"]
    props = _only(recorder)
    assert props["$ai_tools"] == tools
    assert props["$ai_output_choices"] == [
        {
            "role": "assistant",
            "content": "Checking",
            "tool_calls": [
                {
                    "type": "function",
                    "id": "toolu_1",
                    "function": {"name": "weather", "arguments": {"city": "Paris"}},
                }
            ],
        }
    ]


def test_streamed_create_keeps_text_input_and_cache_tokens(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="the plain SDK's own stream")
    plain = anthropic.Anthropic(base_url=llm.url, api_key="test", max_retries=0)
    raw = plain.messages.create(model="m", max_tokens=50, messages=MESSAGES, stream=True)
    raw.close()
    llm.reply(text="streamed text", chunks=4, usage=Usage(7, 2, cached_tokens=3))
    stream = _client(llm, recorder).messages.create(model="m", max_tokens=50, messages=MESSAGES, stream=True)
    # Whatever this SDK version returns, ours is of that class (anthropic 0.1xx answers isinstance()
    # on Stream in its own way: False but for its MessageStream, so the class is what we can check).
    assert issubclass(type(stream), type(raw))
    with stream:
        kinds = [event.type for event in stream]
    assert "message_stop" in kinds
    props = _only(recorder)
    assert props["$ai_output_choices"] == [{"role": "assistant", "content": "streamed text"}]
    assert (props["$ai_input_tokens"], props["$ai_output_tokens"], props["$ai_cache_read_input_tokens"]) == (
        7,
        2,
        3,
    )


def test_streamed_tool_use_is_assembled(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(tool_calls=[ToolCall("lookup", {"q": "posthog"}, id="toolu_9")], chunks=3)
    for _ in _client(llm, recorder).messages.create(model="m", max_tokens=50, messages=MESSAGES, stream=True):
        pass
    [choice] = _only(recorder)["$ai_output_choices"]
    assert choice["tool_calls"] == [
        {"type": "function", "id": "toolu_9", "function": {"name": "lookup", "arguments": {"q": "posthog"}}}
    ]


def test_messages_stream_is_tracked_and_keeps_its_helpers(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="via the helper", chunks=3, usage=Usage(5, 4))
    client = _client(llm, recorder)
    with client.messages.stream(
        model="m", max_tokens=50, messages=MESSAGES, posthog_distinct_id="u"
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "via the helper" and final.content[0].text == "via the helper"
    assert llm.last.json["stream"] is True  # a streaming request (3.25.0 sent a plain one)
    props = _only(recorder)
    assert props["$ai_output_choices"] == [{"role": "assistant", "content": "via the helper"}]
    assert props["$ai_output_tokens"] == 4


def test_async_messages_stream_and_create(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="one", chunks=2)
    llm.reply(text="two")

    async def main() -> tuple[str, str]:
        client = AsyncAnthropic(posthog_client=recorder, base_url=llm.url, api_key="test", max_retries=0)
        async with client.messages.stream(model="m", max_tokens=50, messages=MESSAGES) as stream:
            first = "".join([t async for t in stream.text_stream])
        message = await client.messages.create(model="m", max_tokens=50, messages=MESSAGES)
        return first, message.content[0].text

    assert asyncio.run(main()) == ("one", "two")
    outputs = [e["properties"]["$ai_output_choices"][0]["content"] for e in recorder.events]
    assert outputs == ["one", "two"]


def test_a_stream_closed_early_is_reported_once(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="a long answer indeed", chunks=6)
    stream = _client(llm, recorder).messages.create(model="m", max_tokens=50, messages=MESSAGES, stream=True)
    next(iter(stream))
    stream.close()
    assert len(recorder.events) == 1


def _raised(run: Callable[[], object]) -> BaseException:
    with pytest.raises(Exception) as info:
        run()
    return info.value


def test_a_stream_cut_off_by_the_provider_raises_what_the_sdk_raises_and_is_reported(
    llm: FakeLLM, recorder: RecordingClient
) -> None:
    # Which class a cut-off body raises is the SDK's choice (it changed in anthropic 2.17): the
    # wrapped client must raise exactly what the raw SDK of this run raises.
    llm.reply(text="this will not finish", chunks=6, break_after=3)
    llm.reply(text="this will not finish", chunks=6, break_after=3)
    raw = anthropic.Anthropic(base_url=llm.url, api_key="test", max_retries=0)
    wrapped = _client(llm, recorder)

    def consume(client: Any) -> None:
        for _ in client.messages.create(model="m", max_tokens=50, messages=MESSAGES, stream=True):
            pass

    expected = _raised(lambda: consume(raw))
    got = _raised(lambda: consume(wrapped))

    assert type(got) is type(expected)
    assert type(got.__cause__) is type(expected.__cause__)
    assert str(got) == str(expected)
    assert _only(recorder)["$ai_is_error"] is True


def test_client_privacy_mode_hides_inputs_and_outputs(llm: FakeLLM) -> None:
    quiet = RecordingClient("phc_ai", privacy_mode=True)
    _client(llm, quiet).messages.create(model="m", max_tokens=50, messages=MESSAGES)
    props = _only(quiet)
    assert props["$ai_input"] is None and props["$ai_output_choices"] is None


def test_null_usage_fields_do_not_break_the_event(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.reply(text="ok", usage=Usage(cached_tokens=None, cache_creation_tokens=None))
    _client(llm, recorder).messages.create(model="m", max_tokens=50, messages=MESSAGES)
    props = _only(recorder)
    assert "$ai_cache_read_input_tokens" not in props and props["$ai_input_tokens"] == 10


def test_provider_errors_are_reraised_after_the_event(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.fail_next(400, message="nope")
    with pytest.raises(anthropic.BadRequestError):
        _client(llm, recorder).messages.create(model="m", max_tokens=50, messages=MESSAGES)
    props = _only(recorder)
    assert props["$ai_is_error"] is True and props["$ai_http_status"] == 400


def test_privacy_mode_and_base64_images(llm: FakeLLM, recorder: RecordingClient) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "B" * 4000}}
    messages = [{"role": "user", "content": [image, {"type": "text", "text": "what?"}]}]
    client = _client(llm, recorder)
    client.messages.create(model="m", max_tokens=50, messages=messages)
    client.messages.create(model="m", max_tokens=50, messages=MESSAGES, posthog_privacy_mode=True)
    first, second = (e["properties"] for e in recorder.events)
    assert "BBBB" not in str(first["$ai_input"])
    assert second["$ai_input"] is None and second["$ai_output_choices"] is None


class _Broken:
    privacy_mode = False

    def capture(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("posthog is broken")


def test_a_posthog_failure_never_reaches_the_caller(llm: FakeLLM) -> None:
    llm.reply(text="fine")
    message = _client(llm, _Broken()).messages.create(model="m", max_tokens=50, messages=MESSAGES)
    assert message.content[0].text == "fine"
