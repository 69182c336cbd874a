"""posthog.ai.langchain.CallbackHandler with current LangChain (langchain-core 1.x) and a fake provider.

Spec: integrations.md §4; issue 12 (cache-read tokens; one trace, one person without a distinct id).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from posthog.ai.langchain import CallbackHandler
from posthog.testing import RecordingClient
from tests.fake_llm import FakeLLM, Reply, Usage


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def recorder() -> RecordingClient:
    return RecordingClient("phc_ai")


def _model(llm: FakeLLM) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", api_key="test", base_url=llm.url + "/v1", max_retries=0)


def _chain(llm: FakeLLM) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief"), ("user", "Tell me about {topic}")])
    return prompt | _model(llm) | StrOutputParser()


def test_a_chain_is_one_trace_with_spans_and_a_generation(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.script(Reply(text="Cats purr.", usage=Usage(20, 4, cached_tokens=5)))
    handler = CallbackHandler(recorder, distinct_id="user-1", properties={"team": "core"})

    assert _chain(llm).invoke({"topic": "cats"}, config={"callbacks": [handler]}) == "Cats purr."

    events = recorder.events
    assert [e["event"] for e in events] == ["$ai_span", "$ai_generation", "$ai_span", "$ai_trace"]
    trace = events[-1]["properties"]
    assert trace["$ai_span_name"] == "RunnableSequence"
    assert trace["$ai_input_state"] == {"topic": "cats"} and trace["$ai_output_state"] == "Cats purr."
    assert "$ai_parent_id" not in trace
    assert {e["properties"]["$ai_trace_id"] for e in events} == {trace["$ai_span_id"]}
    assert all(e["distinct_id"] == "user-1" and e["properties"]["team"] == "core" for e in events)
    generation = events[1]["properties"]
    assert generation["$ai_parent_id"] == trace["$ai_span_id"]
    assert generation["$ai_provider"] == "openai" and generation["$ai_model"] == "gpt-4o-mini"
    assert generation["$ai_input"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Tell me about cats"},
    ]
    assert generation["$ai_output_choices"][0]["content"] == "Cats purr."
    assert (generation["$ai_input_tokens"], generation["$ai_output_tokens"]) == (20, 4)
    assert generation["$ai_cache_read_input_tokens"] == 5
    assert generation["$ai_base_url"].startswith(llm.url)


def test_without_a_distinct_id_the_whole_trace_is_one_anonymous_person(
    llm: FakeLLM, recorder: RecordingClient
) -> None:
    _chain(llm).invoke({"topic": "dogs"}, config={"callbacks": [CallbackHandler(recorder)]})
    events = recorder.events
    trace_id = events[-1]["properties"]["$ai_trace_id"]
    assert {e["distinct_id"] for e in events} == {trace_id}
    assert all(e["properties"]["$process_person_profile"] is False for e in events)


def test_a_given_trace_id_is_used(llm: FakeLLM, recorder: RecordingClient) -> None:
    _model(llm).invoke("Hi", config={"callbacks": [CallbackHandler(recorder, trace_id="conv-1")]})
    assert recorder.events[0]["properties"]["$ai_trace_id"] == "conv-1"


def test_tools_and_retrievers_are_spans(llm: FakeLLM, recorder: RecordingClient) -> None:
    @tool
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    class Library(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
            return [Document(page_content=f"about {query}")]

    handler = CallbackHandler(recorder, distinct_id="u")
    pipeline = RunnableLambda(lambda city: weather.invoke({"city": city})) | RunnableLambda(
        lambda text: Library().invoke(text)
    )
    pipeline.invoke("Paris", config={"callbacks": [handler]})

    spans = {
        e["properties"]["$ai_span_name"]: e["properties"] for e in recorder.events if e["event"] == "$ai_span"
    }
    assert "sunny in Paris" in str(spans["weather"]["$ai_output_state"])
    assert spans["Library"]["$ai_input_state"] == "sunny in Paris"
    assert "about sunny in Paris" in str(spans["Library"]["$ai_output_state"])


def test_errors_are_reported_and_still_raised(llm: FakeLLM, recorder: RecordingClient) -> None:
    llm.fail_next(500, message="provider down")

    with pytest.raises(Exception, match="provider down"):
        _chain(llm).invoke({"topic": "x"}, config={"callbacks": [CallbackHandler(recorder, distinct_id="u")]})

    by_event = {e["event"]: e["properties"] for e in recorder.events}
    assert by_event["$ai_generation"]["$ai_is_error"] is True
    assert by_event["$ai_generation"]["$ai_http_status"] == 500
    assert by_event["$ai_trace"]["$ai_is_error"] is True


def test_privacy_mode_hides_inputs_outputs_and_states(llm: FakeLLM, recorder: RecordingClient) -> None:
    _chain(llm).invoke({"topic": "x"}, config={"callbacks": [CallbackHandler(recorder, privacy_mode=True)]})
    for event in recorder.events:
        props = event["properties"]
        for key in ("$ai_input", "$ai_output_choices", "$ai_input_state", "$ai_output_state"):
            assert props.get(key) is None


def test_a_client_is_required() -> None:
    with pytest.raises(ValueError, match="PostHog client is required"):
        CallbackHandler()


class _Broken:
    privacy_mode = False

    def capture(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("posthog is broken")


def test_a_posthog_failure_never_reaches_the_chain(llm: FakeLLM) -> None:
    llm.script(Reply(text="fine"))
    assert _chain(llm).invoke({"topic": "x"}, config={"callbacks": [CallbackHandler(_Broken())]}) == "fine"


def test_an_agent_run_keeps_its_trace_and_reports_its_actions(recorder: RecordingClient) -> None:
    # The callbacks in the order an agent executor makes them (actions and finish on the agent's run).
    from uuid import uuid4

    from langchain_core.agents import AgentAction, AgentFinish

    handler = CallbackHandler(recorder, distinct_id="u")
    agent, tool_run = uuid4(), uuid4()
    handler.on_chain_start({"name": "AgentExecutor"}, {"input": "weather?"}, run_id=agent)
    handler.on_agent_action(AgentAction("weather", {"city": "Paris"}, "calling weather"), run_id=agent)
    handler.on_tool_start({"name": "weather"}, "Paris", run_id=tool_run, parent_run_id=agent)
    handler.on_tool_end("sunny", run_id=tool_run, parent_run_id=agent)
    handler.on_agent_finish(AgentFinish({"output": "It is sunny"}, "done"), run_id=agent)
    handler.on_chain_end({"output": "It is sunny"}, run_id=agent)

    events = [(e["event"], e["properties"]) for e in recorder.events]
    assert [name for name, _ in events] == ["$ai_span", "$ai_span", "$ai_trace"]
    action, tool_span, trace = (props for _, props in events)
    assert action["$ai_span_name"] == "weather" and action["$ai_input_state"] == {"city": "Paris"}
    assert action["$ai_parent_id"] == tool_span["$ai_parent_id"] == str(agent)
    assert trace["$ai_span_name"] == "AgentExecutor" and trace["$ai_output_state"] == {
        "output": "It is sunny"
    }
    assert {props["$ai_trace_id"] for _, props in events} == {str(agent)}
