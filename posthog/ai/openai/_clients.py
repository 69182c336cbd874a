"""OpenAI clients whose calls are reported to PostHog; everything else is the provider's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import openai

from .._events import Call, split_kwargs
from .._proxy import Proxy, Reporting
from .._stream import track
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
        return track(result, state.add, lambda error: end(ph, call, kwargs, base_url, state, error))
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
        return track(
            result,
            state.add,
            asynchronous=True,
            on_end=lambda error: end(ph, call, kwargs, base_url, state, error),
        )
    report(ph, call, kwargs, base_url, result, None)
    return result


class _Completions(Proxy):
    def create(self, **kwargs: Any) -> Any:
        """``chat.completions.create``, reported as ``$ai_generation``."""
        return _sync_call(self._owner, self._original.create, kwargs, "chat")

    def parse(self, **kwargs: Any) -> Any:
        """``chat.completions.parse``, reported as ``$ai_generation``."""
        return _sync_call(self._owner, self._original.parse, kwargs, "chat")


class _AsyncCompletions(Proxy):
    async def create(self, **kwargs: Any) -> Any:
        """``chat.completions.create``, reported as ``$ai_generation``."""
        return await _async_call(self._owner, self._original.create, kwargs, "chat")

    async def parse(self, **kwargs: Any) -> Any:
        """``chat.completions.parse``, reported as ``$ai_generation``."""
        return await _async_call(self._owner, self._original.parse, kwargs, "chat")


class _Chat(Proxy):
    def __init__(self, original: Any, owner: Any, completions: type[Proxy]) -> None:
        super().__init__(original, owner)
        self.completions = completions(original.completions, owner)


class _Beta(Proxy):
    def __init__(self, original: Any, owner: Any, completions: type[Proxy]) -> None:
        super().__init__(original, owner)
        chat = getattr(original, "chat", None)
        if chat is not None and hasattr(chat, "completions"):
            self.chat = _Chat(chat, owner, completions)


class _Embeddings(Proxy):
    def create(self, **kwargs: Any) -> Any:
        """``embeddings.create``, reported as ``$ai_embedding``."""
        return _sync_call(self._owner, self._original.create, kwargs, "embedding")


class _AsyncEmbeddings(Proxy):
    async def create(self, **kwargs: Any) -> Any:
        """``embeddings.create``, reported as ``$ai_embedding``."""
        return await _async_call(self._owner, self._original.create, kwargs, "embedding")


class _Responses(Proxy):
    def create(self, **kwargs: Any) -> Any:
        """``responses.create``, reported as ``$ai_generation``."""
        return _sync_call(self._owner, self._original.create, kwargs, "responses")


class _AsyncResponses(Proxy):
    async def create(self, **kwargs: Any) -> Any:
        """``responses.create``, reported as ``$ai_generation``."""
        return await _async_call(self._owner, self._original.create, kwargs, "responses")


class _OpenAIReporting(Reporting):
    # Wrapped resources: the provider's own, plus the ``posthog_*`` keyword arguments.
    chat: Any
    embeddings: Any
    responses: Any
    beta: Any

    def _wrap_resources(self) -> None:
        asynchronous = self._ph_async
        completions: type[Proxy] = _AsyncCompletions if asynchronous else _Completions
        self.chat = _Chat(self.chat, self, completions)
        self.embeddings = (_AsyncEmbeddings if asynchronous else _Embeddings)(self.embeddings, self)
        responses = getattr(self, "responses", None)
        if responses is not None:
            self.responses = (_AsyncResponses if asynchronous else _Responses)(responses, self)
        beta = getattr(self, "beta", None)
        if beta is not None:
            self.beta = _Beta(beta, self, completions)


class OpenAI(_OpenAIReporting, openai.OpenAI):
    """``openai.OpenAI`` whose chat, responses and embeddings calls are reported to PostHog."""


class AsyncOpenAI(_OpenAIReporting, openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` whose chat, responses and embeddings calls are reported to PostHog."""

    _ph_async = True


class AzureOpenAI(_OpenAIReporting, openai.AzureOpenAI):
    """``openai.AzureOpenAI``, reported to PostHog."""


class AsyncAzureOpenAI(_OpenAIReporting, openai.AsyncAzureOpenAI):
    """``openai.AsyncAzureOpenAI``, reported to PostHog."""

    _ph_async = True
