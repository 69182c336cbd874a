"""Anthropic clients that report their messages to PostHog (``pip install 'posthog[anthropic]'``)."""

from __future__ import annotations

try:
    import anthropic  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ModuleNotFoundError(
        "posthog.ai.anthropic needs the Anthropic SDK: pip install 'posthog[anthropic]'", name="anthropic"
    ) from exc

from ._clients import (
    Anthropic,
    AnthropicBedrock,
    AnthropicVertex,
    AsyncAnthropic,
    AsyncAnthropicBedrock,
    AsyncAnthropicVertex,
)

__all__ = [
    "Anthropic",
    "AnthropicBedrock",
    "AnthropicVertex",
    "AsyncAnthropic",
    "AsyncAnthropicBedrock",
    "AsyncAnthropicVertex",
]
