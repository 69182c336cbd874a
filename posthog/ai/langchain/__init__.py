"""A LangChain callback handler that reports runs to PostHog (``pip install 'posthog[langchain]'``)."""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ModuleNotFoundError(
        "posthog.ai.langchain needs LangChain: pip install 'posthog[langchain]'", name="langchain_core"
    ) from exc

from .callbacks import CallbackHandler

__all__ = ["CallbackHandler"]
