"""Read what an Anthropic message (or stream of events) says: content, usage, model. Nothing is modified."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Optional

__all__ = ["MessageStreamState", "message_output", "message_usage"]


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _choice(text: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    choice: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        choice["tool_calls"] = calls
    return [choice] if text or calls else []


def _tool_call(block_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {"type": "function", "id": block_id, "function": {"name": name, "arguments": arguments}}


def message_output(message: Any) -> list[dict[str, Any]]:
    """``$ai_output_choices`` of a message: its text, and its ``tool_use`` blocks as tool calls."""
    text = ""
    calls = []
    for block in _get(message, "content") or []:
        kind = _get(block, "type")
        if kind == "text":
            text += _get(block, "text") or ""
        elif kind == "tool_use":
            calls.append(_tool_call(_get(block, "id"), _get(block, "name"), _get(block, "input")))
    return _choice(text, calls)


def message_usage(usage: Any, streamed: bool = False) -> dict[str, Any]:
    """Token counts of a message's ``usage`` (null counts are 0).

    As 3.x did, a streamed message always reports cache tokens (0 if none), another only when
    there are some.
    """
    props: dict[str, Any] = {
        "$ai_input_tokens": _int(_get(usage, "input_tokens")) or 0,
        "$ai_output_tokens": _int(_get(usage, "output_tokens")) or 0,
    }
    for key, name in (
        ("$ai_cache_read_input_tokens", "cache_read_input_tokens"),
        ("$ai_cache_creation_input_tokens", "cache_creation_input_tokens"),
    ):
        value = _int(_get(usage, name)) or 0
        if value or streamed:
            props[key] = value
    return props


class MessageStreamState:
    """Accumulates raw message stream events: text, tool calls, usage (input, cache and output), model."""

    def __init__(self) -> None:
        self.model: Optional[str] = None
        self.usage: dict[str, int] = {}
        self._blocks: dict[int, dict[str, Any]] = {}

    def _count(self, usage: Any) -> None:
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = _int(_get(usage, name))
            if value is not None:
                self.usage[name] = value

    def add(self, event: Any) -> None:
        """Take in one event (read only)."""
        kind = _get(event, "type")
        if kind == "message_start":
            message = _get(event, "message")
            self.model = _get(message, "model") or self.model
            self._count(_get(message, "usage"))
        elif kind == "message_delta":
            self._count(_get(event, "usage"))
        elif kind == "content_block_start":
            block = _get(event, "content_block")
            self._blocks[_get(event, "index") or 0] = {
                "type": _get(block, "type"),
                "text": _get(block, "text") or "",
                "id": _get(block, "id"),
                "name": _get(block, "name"),
                "json": "",
            }
        elif kind == "content_block_delta":
            slot = self._blocks.setdefault(
                _get(event, "index") or 0, {"type": "text", "text": "", "json": ""}
            )
            delta = _get(event, "delta")
            if _get(delta, "type") == "text_delta":
                slot["text"] += _get(delta, "text") or ""
            elif _get(delta, "type") == "input_json_delta":
                slot["json"] += _get(delta, "partial_json") or ""

    def output(self) -> list[dict[str, Any]]:
        """``$ai_output_choices`` for what was streamed."""
        text = ""
        calls = []
        for _, block in sorted(self._blocks.items()):
            if block["type"] == "tool_use":
                try:
                    arguments = json.loads(block["json"]) if block["json"] else {}
                except ValueError:
                    arguments = block["json"]
                calls.append(_tool_call(block["id"], block["name"], arguments))
            else:
                text += block["text"]
        return _choice(text, calls)

    def usage_properties(self) -> dict[str, Any]:
        """Token counts for what was streamed."""
        return message_usage(self.usage, streamed=True)
