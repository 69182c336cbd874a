"""Anthropic clients whose ``messages.create`` and ``messages.stream`` are reported to PostHog."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import anthropic

from .._events import Call, model_parameters, send_event, split_kwargs
from .._proxy import Proxy, Reporting
from .._sanitize import with_system_prompt, without_base64
from .._stream import track
from ._extract import MessageStreamState, message_output, message_usage

__all__ = [
    "Anthropic",
    "AnthropicBedrock",
    "AnthropicVertex",
    "AsyncAnthropic",
    "AsyncAnthropicBedrock",
    "AsyncAnthropicVertex",
]


def _report(
    owner: Any,
    call: Call,
    kwargs: Mapping[str, Any],
    model: Any,
    output: list[dict[str, Any]],
    usage: dict[str, Any],
    error: Optional[BaseException],
) -> None:
    status = getattr(error, "status_code", None) if error is not None else 200
    props: dict[str, Any] = {
        "$ai_provider": "anthropic",
        "$ai_model": kwargs.get("model") or model,
        "$ai_model_parameters": model_parameters(kwargs),
        "$ai_input": with_system_prompt(kwargs.get("messages"), kwargs.get("system")),
        "$ai_output_choices": output,
        "$ai_http_status": status if isinstance(status, int) else 0,
        **usage,
        "$ai_latency": call.latency(),
        "$ai_base_url": str(getattr(owner, "base_url", "")),
    }
    if kwargs.get("tools"):
        props["$ai_tools"] = without_base64(kwargs["tools"])
    if error is not None:
        props["$ai_is_error"] = True
        props["$ai_error"] = str(error)
    send_event(owner._ph_client, "$ai_generation", call, props)


def _report_message(
    owner: Any, call: Call, kwargs: Mapping[str, Any], message: Any, error: Any, streamed: bool = False
) -> None:
    _report(
        owner,
        call,
        kwargs,
        getattr(message, "model", None),
        message_output(message) if message is not None else [],
        message_usage(getattr(message, "usage", None), streamed=streamed),
        error,
    )


def _report_state(
    owner: Any, call: Call, kwargs: Mapping[str, Any], state: MessageStreamState, error: Any
) -> None:
    _report(owner, call, kwargs, state.model, state.output(), state.usage_properties(), error)


class _StreamManager(Proxy):
    """``messages.stream(...)``: the provider's own ``MessageStream`` inside ``with``, reported on exit."""

    def __init__(self, original: Any, owner: Any, call: Call, kwargs: dict[str, Any]) -> None:
        super().__init__(original, owner)
        self._call = call
        self._kwargs = kwargs
        self._stream: Any = None

    def _finish(self, error: Optional[BaseException]) -> None:
        snapshot = None
        try:
            snapshot = self._stream.current_message_snapshot if self._stream is not None else None
        except Exception:  # nothing arrived yet
            snapshot = None
        _report_message(self._owner, self._call, self._kwargs, snapshot, error, streamed=True)

    def __enter__(self) -> Any:
        try:
            self._stream = self._original.__enter__()
        except Exception as exc:
            self._finish(exc)
            raise
        return self._stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._original.__exit__(*exc_info)
        finally:
            self._finish(exc_info[1])

    async def __aenter__(self) -> Any:
        try:
            self._stream = await self._original.__aenter__()
        except Exception as exc:
            self._finish(exc)
            raise
        return self._stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self._original.__aexit__(*exc_info)
        finally:
            self._finish(exc_info[1])


class _Messages(Proxy):
    def create(self, **kwargs: Any) -> Any:
        """``messages.create``, reported as ``$ai_generation``."""
        call, kwargs = split_kwargs(kwargs)
        owner = self._owner
        try:
            result = self._original.create(**kwargs)
        except Exception as exc:
            _report_message(owner, call, kwargs, None, exc)
            raise
        if kwargs.get("stream"):
            state = MessageStreamState()
            return track(result, state.add, lambda error: _report_state(owner, call, kwargs, state, error))
        _report_message(owner, call, kwargs, result, None)
        return result

    def stream(self, **kwargs: Any) -> Any:
        """``messages.stream``: the provider's stream manager, reported when its ``with`` ends."""
        call, kwargs = split_kwargs(kwargs)
        return _StreamManager(self._original.stream(**kwargs), self._owner, call, kwargs)


class _AsyncMessages(Proxy):
    async def create(self, **kwargs: Any) -> Any:
        """``messages.create``, reported as ``$ai_generation``."""
        call, kwargs = split_kwargs(kwargs)
        owner = self._owner
        try:
            result = await self._original.create(**kwargs)
        except Exception as exc:
            _report_message(owner, call, kwargs, None, exc)
            raise
        if kwargs.get("stream"):
            state = MessageStreamState()
            return track(
                result,
                state.add,
                asynchronous=True,
                on_end=lambda error: _report_state(owner, call, kwargs, state, error),
            )
        _report_message(owner, call, kwargs, result, None)
        return result

    def stream(self, **kwargs: Any) -> Any:
        """``messages.stream``: the provider's stream manager, reported when its ``async with`` ends."""
        call, kwargs = split_kwargs(kwargs)
        return _StreamManager(self._original.stream(**kwargs), self._owner, call, kwargs)


class _AnthropicReporting(Reporting):
    messages: Any  # the provider's own, plus the ``posthog_*`` keyword arguments

    def _wrap_resources(self) -> None:
        self.messages = (_AsyncMessages if self._ph_async else _Messages)(self.messages, self)


class Anthropic(_AnthropicReporting, anthropic.Anthropic):
    """``anthropic.Anthropic`` whose messages are reported to PostHog."""


class AsyncAnthropic(_AnthropicReporting, anthropic.AsyncAnthropic):
    """``anthropic.AsyncAnthropic`` whose messages are reported to PostHog."""

    _ph_async = True


class AnthropicBedrock(_AnthropicReporting, anthropic.AnthropicBedrock):
    """``anthropic.AnthropicBedrock``, reported to PostHog."""


class AsyncAnthropicBedrock(_AnthropicReporting, anthropic.AsyncAnthropicBedrock):
    """``anthropic.AsyncAnthropicBedrock``, reported to PostHog."""

    _ph_async = True


class AnthropicVertex(_AnthropicReporting, anthropic.AnthropicVertex):
    """``anthropic.AnthropicVertex``, reported to PostHog."""


class AsyncAnthropicVertex(_AnthropicReporting, anthropic.AsyncAnthropicVertex):
    """``anthropic.AsyncAnthropicVertex``, reported to PostHog."""

    _ph_async = True
