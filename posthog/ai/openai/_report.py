"""The ``$ai_generation`` / ``$ai_embedding`` events of OpenAI calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from .._events import Call, model_parameters, send_event
from .._sanitize import with_system_prompt, without_base64
from ._extract import (
    ChatStreamState,
    ResponsesStreamState,
    chat_output,
    chat_usage,
    responses_output,
    responses_usage,
)

__all__ = [
    "report_chat",
    "report_chat_stream",
    "report_embedding",
    "report_responses",
    "report_responses_stream",
]


def _status(error: Optional[BaseException]) -> int:
    if error is None:
        return 200
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else 0


def _common(
    call: Call,
    kwargs: Mapping[str, Any],
    model: Any,
    base_url: Any,
    error: Optional[BaseException],
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "$ai_provider": "openai",
        "$ai_model": kwargs.get("model") or model,
        "$ai_model_parameters": model_parameters(kwargs),
        "$ai_http_status": _status(error),
        "$ai_latency": call.latency(),
        "$ai_base_url": str(base_url),
    }
    if kwargs.get("tools"):
        props["$ai_tools"] = without_base64(kwargs["tools"])
    return props


def _finish(props: dict[str, Any], error: Optional[BaseException]) -> dict[str, Any]:
    if error is not None:
        props["$ai_is_error"] = True
        props["$ai_error"] = str(error)
    return props


def report_chat(
    client: Any,
    call: Call,
    kwargs: Mapping[str, Any],
    base_url: Any,
    result: Any,
    error: Optional[BaseException],
) -> None:
    """A chat completion (or ``parse``) finished, or failed."""
    props = _common(call, kwargs, getattr(result, "model", None), base_url, error)
    props["$ai_input"] = with_system_prompt(kwargs.get("messages"), None)
    props["$ai_output_choices"] = chat_output(result) if result is not None else []
    props.update(chat_usage(getattr(result, "usage", None)))
    send_event(client, "$ai_generation", call, _finish(props, error))


def report_chat_stream(
    client: Any,
    call: Call,
    kwargs: Mapping[str, Any],
    base_url: Any,
    state: ChatStreamState,
    error: Optional[BaseException],
) -> None:
    """A streamed chat completion ended (exhausted, closed, or failed)."""
    props = _common(call, kwargs, state.model, base_url, error)
    props["$ai_input"] = with_system_prompt(kwargs.get("messages"), None)
    props["$ai_output_choices"] = state.output()
    props.update(chat_usage(state.usage, streamed=True))
    send_event(client, "$ai_generation", call, _finish(props, error))


def _responses_input(kwargs: Mapping[str, Any]) -> Any:
    return with_system_prompt(kwargs.get("input"), kwargs.get("instructions"))


def report_responses(
    client: Any,
    call: Call,
    kwargs: Mapping[str, Any],
    base_url: Any,
    result: Any,
    error: Optional[BaseException],
) -> None:
    """A Responses API call finished, or failed."""
    props = _common(call, kwargs, getattr(result, "model", None), base_url, error)
    props["$ai_input"] = _responses_input(kwargs)
    props["$ai_output_choices"] = responses_output(result) if result is not None else []
    props.update(responses_usage(getattr(result, "usage", None)))
    if kwargs.get("instructions"):
        props["$ai_instructions"] = kwargs["instructions"]
    send_event(client, "$ai_generation", call, _finish(props, error))


def report_responses_stream(
    client: Any,
    call: Call,
    kwargs: Mapping[str, Any],
    base_url: Any,
    state: ResponsesStreamState,
    error: Optional[BaseException],
) -> None:
    """A streamed Responses API call ended."""
    props = _common(call, kwargs, state.model, base_url, error)
    props["$ai_input"] = _responses_input(kwargs)
    props["$ai_output_choices"] = state.output()
    props.update(state.usage())
    if kwargs.get("instructions"):
        props["$ai_instructions"] = kwargs["instructions"]
    send_event(client, "$ai_generation", call, _finish(props, error))


def report_embedding(
    client: Any,
    call: Call,
    kwargs: Mapping[str, Any],
    base_url: Any,
    result: Any,
    error: Optional[BaseException],
) -> None:
    """An embeddings call finished, or failed (3.x sent nothing for a failure)."""
    usage = getattr(result, "usage", None)
    tokens = getattr(usage, "prompt_tokens", None)
    props: dict[str, Any] = {
        "$ai_provider": "openai",
        "$ai_model": kwargs.get("model") or getattr(result, "model", None),
        "$ai_input": kwargs.get("input"),
        "$ai_http_status": _status(error),
        "$ai_input_tokens": tokens if isinstance(tokens, int) else 0,
        "$ai_latency": call.latency(),
        "$ai_base_url": str(base_url),
    }
    send_event(client, "$ai_embedding", call, _finish(props, error))
