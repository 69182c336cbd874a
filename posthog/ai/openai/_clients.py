"""OpenAI clients whose calls are reported to PostHog; everything else is the provider's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai

from .._proxy import Proxy, Reporting
from ._report import Job

__all__ = ["AsyncAzureOpenAI", "AsyncOpenAI", "AzureOpenAI", "OpenAI"]


def _sync_call(owner: Any, method: Callable[..., Any], kwargs: dict[str, Any], kind: str) -> Any:
    job = Job(owner, kwargs, kind)
    try:
        result = method(**job.kwargs)
    except Exception as exc:
        job.failed(exc)
        raise
    return job.finished(result, asynchronous=False)


async def _async_call(owner: Any, method: Callable[..., Any], kwargs: dict[str, Any], kind: str) -> Any:
    job = Job(owner, kwargs, kind)
    try:
        result = await method(**job.kwargs)
    except Exception as exc:
        job.failed(exc)
        raise
    return job.finished(result, asynchronous=True)


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
