"""Anthropic Messages wire format: the ``message`` JSON body and its named SSE events.

A stream is ``message_start`` (the message with empty content and the input-side usage, output_tokens
1), ``ping``, then per content block ``content_block_start`` / ``content_block_delta`` (``text_delta``
or ``input_json_delta``) / ``content_block_stop``, then ``message_delta`` (stop_reason and the final
``usage.output_tokens``) and ``message_stop``. Every frame carries an ``event:`` line: the SDK skips
frames without one.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .script import Exchange, Failure, Frame, Usage

__all__ = ["DEFAULT_MESSAGES_MODEL", "error_body", "error_frame", "message_body", "message_frames"]

DEFAULT_MESSAGES_MODEL: Final = "claude-fake-1"

_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def error_body(failure: Failure, request_id: str | None = None) -> dict[str, Any]:
    """``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    error_type = failure.error_type or _ERROR_TYPES.get(failure.status, "api_error")
    return {
        "type": "error",
        "error": {"type": error_type, "message": failure.describe()},
        "request_id": request_id,
    }


def error_frame(failure: Failure) -> Frame:
    """The ``event: error`` a stream sends when it fails after the 200 (the SDK raises on it)."""
    return "error", _json(error_body(failure))


def _usage(usage: Usage, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": usage.cached_tokens if usage.details else None,
        "cache_creation_input_tokens": usage.cache_creation_tokens if usage.details else None,
        "service_tier": "standard",
    }


def _stop_reason(ex: Exchange) -> str:
    if ex.reply.stop_reason is not None:
        return ex.reply.stop_reason
    return "tool_use" if ex.reply.tool_calls else "end_turn"


def _message(ex: Exchange, content: list[dict[str, Any]], *, done: bool) -> dict[str, Any]:
    usage = ex.reply.usage or Usage(input_tokens=0, output_tokens=0)
    return {
        "id": f"msg_fake{ex.serial}",
        "type": "message",
        "role": "assistant",
        "model": ex.model(DEFAULT_MESSAGES_MODEL),
        "content": content,
        "stop_reason": _stop_reason(ex) if done else None,
        "stop_sequence": None,
        "usage": _usage(usage, usage.output_tokens if done else min(1, usage.output_tokens)),
    }


def _tool_block(ex: Exchange, index: int, arguments: Any) -> dict[str, Any]:
    call = ex.reply.tool_calls[index]
    return {"type": "tool_use", "id": ex.tool_id(index, "toolu_"), "name": call.name, "input": arguments}


def message_body(ex: Exchange) -> dict[str, Any]:
    """A non-streamed ``message``: a text block (if any text), then tool_use blocks."""
    text = ex.reply.resolved_text
    content: list[dict[str, Any]] = [{"type": "text", "text": text, "citations": None}] if text else []
    content.extend(_tool_block(ex, i, c.arguments_object()) for i, c in enumerate(ex.reply.tool_calls))
    return _message(ex, content, done=True)


def message_frames(ex: Exchange) -> list[Frame]:
    """The named events of a streamed message."""
    frames: list[Frame] = []

    def emit(kind: str, **fields: Any) -> None:
        frames.append((kind, _json({"type": kind, **fields})))

    emit("message_start", message=_message(ex, [], done=False))
    emit("ping")
    index = 0
    text = ex.reply.resolved_text
    if text:
        emit(
            "content_block_start", index=index, content_block={"type": "text", "text": "", "citations": None}
        )
        for piece in ex.pieces(text):
            emit("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
        emit("content_block_stop", index=index)
        index += 1
    for position, call in enumerate(ex.reply.tool_calls):
        emit("content_block_start", index=index, content_block=_tool_block(ex, position, {}))
        arguments = json.dumps(call.arguments_object(), separators=(",", ":"))
        for piece in ex.pieces(arguments):
            emit(
                "content_block_delta", index=index, delta={"type": "input_json_delta", "partial_json": piece}
            )
        emit("content_block_stop", index=index)
        index += 1
    usage = ex.reply.usage
    emit(
        "message_delta",
        delta={"stop_reason": _stop_reason(ex), "stop_sequence": None},
        usage={"output_tokens": usage.output_tokens if usage is not None else 0},
    )
    emit("message_stop")
    return frames
