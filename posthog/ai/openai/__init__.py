"""OpenAI clients that report their calls to PostHog (``pip install 'posthog[openai]'``)."""

from __future__ import annotations

try:
    import openai  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ModuleNotFoundError(
        "posthog.ai.openai needs the OpenAI SDK: pip install 'posthog[openai]'", name="openai"
    ) from exc

from ._clients import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI

__all__ = ["AsyncAzureOpenAI", "AsyncOpenAI", "AzureOpenAI", "OpenAI"]
