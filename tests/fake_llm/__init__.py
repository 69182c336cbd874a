"""Fake OpenAI / Anthropic server on 127.0.0.1 for tests that drive the real provider SDKs.

``with FakeLLM() as llm:`` then ``openai.OpenAI(base_url=llm.url + "/v1", api_key="test")`` or
``anthropic.Anthropic(base_url=llm.url, api_key="test")``; script answers with ``llm.reply(...)``,
``llm.fail_next(...)``, ``llm.drop_next()``, read what the SDK sent from ``llm.requests``.
"""

from __future__ import annotations

from .anthropic_wire import DEFAULT_MESSAGES_MODEL
from .handler import route_of
from .openai_wire import DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL
from .script import DEFAULT_TEXT, Drop, Failure, Reply, Step, ToolCall, Usage
from .server import FakeLLM, Responder

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_MESSAGES_MODEL",
    "DEFAULT_TEXT",
    "Drop",
    "Failure",
    "FakeLLM",
    "Reply",
    "Responder",
    "Step",
    "ToolCall",
    "Usage",
    "route_of",
]
