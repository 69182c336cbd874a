"""OpenAI clients whose calls are reported to PostHog; everything else is the provider's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import openai

from .._events import Call, split_kwargs
from .._stream import TrackedAsyncStream, TrackedStream
from ._extract import ChatStreamState, ResponsesStreamState
from ._report import (
    report_chat,
    report_chat_stream,
    report_embedding,
    report_responses,
    report_responses_stream,
)

__all__ = ["AsyncAzureOpenAI", "AsyncOpenAI", "AzureOpenAI", "OpenAI"]

Report = Callable[[Any, Call, dict[str, Any], Any, Any, Optional[BaseException]], None]


class _Proxy:
    """Passes every attribute through to the provider's resource, except those it wraps."""

    def __init__(self, original: Any, owner: Any) -> None:
        self._original = original
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def _streaming(kwargs: dict[str, Any], chat: bool) -> dict[str, Any]:
    if chat and kwargs.get("stream"):
        # Usage arrives only when asked for (as 3.x did).
        options = dict(kwargs.get("stream_options") or {})
        options["include_usage"] = True
        kwargs = {**kwargs, "stream_options": options}
    return kwargs


def _sync_call(owner: Any, method: Callable[..., Any], kwargs: dict[str, Any], kind: str) -> Any:
    call, kwargs = split_kwargs(kwargs)
    kwargs = _streaming(kwargs, kind == "chat")
    ph = owner._ph_client
    base_url = getattr(owner, "base_url", "")
    report: Report = {"chat": report_chat, "responses": report_responses, "embedding": report_embedding}[kind]
    try:
        result = method(**kwargs)
    except Exception as exc:
        report(ph, call, kwargs, base_url, None, exc)
        raise
    if kwargs.get("stream") and kind != "embedding":
        state: Any = ChatStreamState() if kind == "chat" else ResponsesStreamState()
        end = report_chat_stream if kind == "chat" else report_responses_stream
        return TrackedStream(result, state.add, lambda error: end(ph, call, kwargs, base_url, state, error))
    report(ph, call, kwargs, base_url, result, None)
    return result


async def _async_call(owner: Any, method: Callable[..., Any], kwargs: dict[str, Any], kind: str) -> Any:
    call, kwargs = split_kwargs(kwargs)
    kwargs = _streaming(kwargs, kind == "chat")
    ph = owner._ph_client
    base_url = getattr(owner, "base_url", "")
    report: Report = {"chat": report_chat, "responses": report_responses, "embedding": report_embedding}[kind]
    try:
        result = await method(**kwargs)
    except Exception as exc:
        report(ph, call, kwargs, base_url, None, exc)
        raise
    if kwargs.get("stream") and kind != "embedding":
        state: Any = ChatStreamState() if kind == "chat" else ResponsesStreamState()
        end = report_chat_stream if kind == "chat" else report_responses_stream
        return TrackedAsyncStream(
            result, state.add, lambda error: end(ph, call, kwargs, base_url, state, error)
        )
    report(ph, call, kwargs, base_url, result, None)
    return result


class _Completions(_Proxy):
    def create(self, **kwargs: Any) -> Any:
        """``chat.completions.create``, reported as ``$ai_generation``."""
        return _sync_call(self._owner, self._original.create, kwargs, "chat")

    def parse(self, **kwargs: Any) -> Any:
        """``chat.completions.parse``, reported as ``$ai_generation``."""
        return _sync_call(self._owner, self._original.parse, kwargs, "chat")


class _AsyncCompletions(_Proxy):
    async def create(self, **kwargs: Any) -> Any:
        """``chat.completions.create``, reported as ``$ai_generation``."""
        return await _async_call(self._owner, self._original.create, kwargs, "chat")

    async def parse(self, **kwargs: Any) -> Any:
        """``chat.completions.parse``, reported as ``$ai_generation``."""
        return await _async_call(self._owner, self._original.parse, kwargs, "chat")


class _Chat(_Proxy):
    def __init__(self, original: Any, owner: Any, completions: type[_Proxy]) -> None:
        super().__init__(original, owner)
        self.completions = completions(original.completions, owner)


class _Beta(_Proxy):
    def __init__(self, original: Any, owner: Any, completions: type[_Proxy]) -> None:
        super().__init__(original, owner)
        chat = getattr(original, "chat", None)
        if chat is not None and hasattr(chat, "completions"):
            self.chat = _Chat(chat, owner, completions)


class _Embeddings(_Proxy):
    def create(self, **kwargs: Any) -> Any:
        """``embeddings.create``, reported as ``$ai_embedding``."""
        return _sync_call(self._owner, self._original.create, kwargs, "embedding")


class _AsyncEmbeddings(_Proxy):
    async def create(self, **kwargs: Any) -> Any:
        """``embeddings.create``, reported as ``$ai_embedding``."""
        return await _async_call(self._owner, self._original.create, kwargs, "embedding")


class _Responses(_Proxy):
    def create(self, **kwargs: Any) -> Any:
        """``responses.create``, reported as ``$ai_generation``."""
        return _sync_call(self._owner, self._original.create, kwargs, "responses")


class _AsyncResponses(_Proxy):
    async def create(self, **kwargs: Any) -> Any:
        """``responses.create``, reported as ``$ai_generation``."""
        return await _async_call(self._owner, self._original.create, kwargs, "responses")


def _install(client: Any, posthog_client: Any, asynchronous: bool) -> None:
    if posthog_client is None:
        raise ValueError("posthog_client is required")
    client._ph_client = posthog_client
    completions: type[_Proxy] = _AsyncCompletions if asynchronous else _Completions
    client.chat = _Chat(client.chat, client, completions)
    client.embeddings = (_AsyncEmbeddings if asynchronous else _Embeddings)(client.embeddings, client)
    responses = getattr(client, "responses", None)
    if responses is not None:
        client.responses = (_AsyncResponses if asynchronous else _Responses)(responses, client)
    beta = getattr(client, "beta", None)
    if beta is not None:
        client.beta = _Beta(beta, client, completions)


class OpenAI(openai.OpenAI):
    """``openai.OpenAI`` whose chat, responses and embeddings calls are reported to PostHog."""

    # Wrapped resources: the provider's own, plus the ``posthog_*`` keyword arguments.
    chat: Any
    embeddings: Any
    responses: Any
    beta: Any

    def __init__(self, posthog_client: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _install(self, posthog_client, asynchronous=False)


class AsyncOpenAI(openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` whose chat, responses and embeddings calls are reported to PostHog."""

    # Wrapped resources: the provider's own, plus the ``posthog_*`` keyword arguments.
    chat: Any
    embeddings: Any
    responses: Any
    beta: Any

    def __init__(self, posthog_client: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _install(self, posthog_client, asynchronous=True)


class AzureOpenAI(openai.AzureOpenAI):
    """``openai.AzureOpenAI``, reported to PostHog."""

    # Wrapped resources: the provider's own, plus the ``posthog_*`` keyword arguments.
    chat: Any
    embeddings: Any
    responses: Any
    beta: Any

    def __init__(self, posthog_client: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _install(self, posthog_client, asynchronous=False)


class AsyncAzureOpenAI(openai.AsyncAzureOpenAI):
    """``openai.AsyncAzureOpenAI``, reported to PostHog."""

    # Wrapped resources: the provider's own, plus the ``posthog_*`` keyword arguments.
    chat: Any
    embeddings: Any
    responses: Any
    beta: Any

    def __init__(self, posthog_client: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _install(self, posthog_client, asynchronous=True)
