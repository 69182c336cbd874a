"""Read what an OpenAI response (or stream of chunks) says: output, usage, model. Nothing is modified."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

__all__ = [
    "ChatStreamState",
    "ResponsesStreamState",
    "chat_output",
    "chat_usage",
    "responses_output",
    "responses_usage",
]


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _tool_call(call: Any) -> dict[str, Any]:
    function = _get(call, "function")
    return {
        "type": _get(call, "type") or "function",
        "id": _get(call, "id"),
        "function": {"name": _get(function, "name"), "arguments": _get(function, "arguments")},
    }


def chat_output(response: Any) -> list[dict[str, Any]]:
    """``$ai_output_choices`` of a chat completion: role, content and tool calls per choice."""
    choices = []
    for choice in _get(response, "choices") or []:
        message = _get(choice, "message")
        entry: dict[str, Any] = {
            "role": _get(message, "role") or "assistant",
            "content": _get(message, "content"),
        }
        calls = _get(message, "tool_calls")
        if calls:
            entry["tool_calls"] = [_tool_call(call) for call in calls]
        choices.append(entry)
    return choices


def chat_usage(usage: Any, streamed: bool = False) -> dict[str, Any]:
    """Token counts of a chat completion's ``usage`` (null or missing counts are 0 or absent).

    As 3.x did, a streamed completion always reports cache-read and reasoning tokens (0 if none);
    a non-streamed one only when there are some.
    """
    props: dict[str, Any] = {
        "$ai_input_tokens": _int(_get(usage, "prompt_tokens")) or 0,
        "$ai_output_tokens": _int(_get(usage, "completion_tokens")) or 0,
    }
    cached = _int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
    if cached or streamed:
        props["$ai_cache_read_input_tokens"] = cached or 0
    reasoning = _int(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
    if reasoning or streamed:
        props["$ai_reasoning_tokens"] = reasoning or 0
    return props


class ChatStreamState:
    """Accumulates streamed chat chunks: text and tool calls per choice, usage, model."""

    def __init__(self) -> None:
        self.model: Optional[str] = None
        self.usage: Any = None
        self._choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Any) -> None:
        """Take in one chunk (read only)."""
        self.model = _get(chunk, "model") or self.model
        usage = _get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        for choice in _get(chunk, "choices") or []:
            index = _get(choice, "index") or 0
            entry = self._choices.setdefault(index, {"role": "assistant", "content": "", "calls": {}})
            delta = _get(choice, "delta")
            if delta is None:
                continue
            entry["role"] = _get(delta, "role") or entry["role"]
            text = _get(delta, "content")
            if text:
                entry["content"] += text
            for call in _get(delta, "tool_calls") or []:
                slot = entry["calls"].setdefault(
                    _get(call, "index") or 0, {"type": "function", "id": None, "name": "", "arguments": ""}
                )
                slot["id"] = _get(call, "id") or slot["id"]
                slot["type"] = _get(call, "type") or slot["type"]
                function = _get(call, "function")
                slot["name"] += _get(function, "name") or ""
                slot["arguments"] += _get(function, "arguments") or ""

    def usage_properties(self) -> dict[str, Any]:
        """Token counts for what was streamed."""
        return chat_usage(self.usage, streamed=True)

    def output(self) -> list[dict[str, Any]]:
        """``$ai_output_choices`` for what was streamed."""
        out = []
        for _, entry in sorted(self._choices.items()):
            choice: dict[str, Any] = {"role": entry["role"], "content": entry["content"]}
            if entry["calls"]:
                choice["tool_calls"] = [
                    {
                        "type": c["type"],
                        "id": c["id"],
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for _, c in sorted(entry["calls"].items())
                ]
            out.append(choice)
        return out


def responses_output(response: Any) -> list[dict[str, Any]]:
    """``$ai_output_choices`` of a Responses API result: messages' text and function calls."""
    out: list[dict[str, Any]] = []
    for item in _get(response, "output") or []:
        kind = _get(item, "type")
        if kind == "message":
            texts = [_get(part, "text") or "" for part in _get(item, "content") or [] if _get(part, "text")]
            out.append({"role": _get(item, "role") or "assistant", "content": "".join(texts)})
        elif kind == "function_call":
            out.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "type": "function",
                            "id": _get(item, "call_id") or _get(item, "id"),
                            "function": {"name": _get(item, "name"), "arguments": _get(item, "arguments")},
                        }
                    ],
                }
            )
    return out


def responses_usage(usage: Any, streamed: bool = False) -> dict[str, Any]:
    """Token counts of a Responses API ``usage`` (streamed: cache and reasoning always, as 3.x)."""
    props: dict[str, Any] = {
        "$ai_input_tokens": _int(_get(usage, "input_tokens")) or 0,
        "$ai_output_tokens": _int(_get(usage, "output_tokens")) or 0,
    }
    cached = _int(_get(_get(usage, "input_tokens_details"), "cached_tokens"))
    if cached or streamed:
        props["$ai_cache_read_input_tokens"] = cached or 0
    reasoning = _int(_get(_get(usage, "output_tokens_details"), "reasoning_tokens"))
    if reasoning or streamed:
        props["$ai_reasoning_tokens"] = reasoning or 0
    return props


class ResponsesStreamState:
    """Accumulates Responses API stream events; the completed response carries output and usage."""

    def __init__(self) -> None:
        self.model: Optional[str] = None
        self.response: Any = None
        self.text = ""

    def add(self, event: Any) -> None:
        """Take in one event (read only)."""
        kind = _get(event, "type")
        response = _get(event, "response")
        if response is not None:
            self.response = response
            self.model = _get(response, "model") or self.model
        if kind == "response.output_text.delta":
            self.text += _get(event, "delta") or ""

    def output(self) -> list[dict[str, Any]]:
        """``$ai_output_choices`` for what was streamed."""
        if self.response is not None and _get(self.response, "output"):
            return responses_output(self.response)
        return [{"role": "assistant", "content": self.text}] if self.text else []

    def usage_properties(self) -> dict[str, Any]:
        """Token counts from the final response."""
        return responses_usage(_get(self.response, "usage"), streamed=True)
