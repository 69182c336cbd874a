"""LLM observability: wrappers that turn provider calls into ``$ai_*`` events.

Import a provider's module (``posthog.ai.openai``); this package itself imports no provider SDK.
"""

from __future__ import annotations

__all__: list[str] = []
