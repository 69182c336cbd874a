"""OpenAI wire formats: Chat Completions, Responses and Embeddings, as JSON bodies and SSE frames.

Chat streams are ``data:`` frames only and end with ``data: [DONE]``; with
``stream_options.include_usage`` every chunk carries ``"usage": null`` and a last chunk with empty
``choices`` carries the usage. Responses streams are typed events (``event: response.created`` ...
``event: response.completed``, the latter carrying the whole response with usage) and have no [DONE].
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Mapping
from typing import Any, Final

from .script import Exchange, Failure, Frame, Usage

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDING_MODEL",
    "chat_body",
    "chat_frames",
    "embeddings_body",
    "error_body",
    "error_frame",
    "responses_body",
    "responses_error_frame",
    "responses_frames",
]

DEFAULT_CHAT_MODEL: Final = "gpt-fake-mini"
DEFAULT_EMBEDDING_MODEL: Final = "text-embedding-fake"
DEFAULT_DIMENSIONS: Final = 8

_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# -- errors ----------------------------------------------------------------------------------------


def error_body(failure: Failure) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``."""
    error_type = failure.error_type or _ERROR_TYPES.get(failure.status, "server_error")
    return {"error": {"message": failure.describe(), "type": error_type, "param": None, "code": failure.code}}


def error_frame(failure: Failure) -> Frame:
    """The error object a chat stream sends in place of a chunk (the SDK raises APIError on it)."""
    return None, _json(error_body(failure))


# -- chat completions ------------------------------------------------------------------------------


def _chat_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0}
        if usage.details
        else None,
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
        if usage.details
        else None,
    }


def _finish_reason(ex: Exchange) -> str:
    if ex.reply.stop_reason is not None:
        return ex.reply.stop_reason
    return "tool_calls" if ex.reply.tool_calls else "stop"


def chat_body(ex: Exchange) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object."""
    reply = ex.reply
    text = reply.resolved_text
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not reply.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": ex.tool_id(index, "call_"),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for index, call in enumerate(reply.tool_calls)
        ]
    body: dict[str, Any] = {
        "id": f"chatcmpl-fake{ex.serial}",
        "object": "chat.completion",
        "created": ex.created,
        "model": ex.model(DEFAULT_CHAT_MODEL),
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(ex)}],
    }
    if reply.usage is not None:
        body["usage"] = _chat_usage(reply.usage)
    return body


def _include_usage(request: Mapping[str, Any]) -> bool:
    options = request.get("stream_options")
    return isinstance(options, Mapping) and bool(options.get("include_usage"))


def chat_frames(ex: Exchange) -> list[Frame]:
    """``chat.completion.chunk`` frames: role, text pieces, tool-call pieces, finish, [usage], [DONE]."""
    reply = ex.reply
    include_usage = _include_usage(ex.request)
    base: dict[str, Any] = {
        "id": f"chatcmpl-fake{ex.serial}",
        "object": "chat.completion.chunk",
        "created": ex.created,
        "model": ex.model(DEFAULT_CHAT_MODEL),
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> Frame:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        payload = {**base, "choices": [choice]}
        if include_usage:
            payload["usage"] = None
        return None, _json(payload)

    frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
    frames.extend(chunk({"content": piece}) for piece in ex.pieces(reply.resolved_text))
    for index, call in enumerate(reply.tool_calls):
        opening = {
            "index": index,
            "id": ex.tool_id(index, "call_"),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        frames.append(chunk({"tool_calls": [opening]}))
        frames.extend(
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in ex.pieces(call.arguments_json())
        )
    frames.append(chunk({}, _finish_reason(ex)))
    if include_usage and reply.usage is not None:
        frames.append((None, _json({**base, "choices": [], "usage": _chat_usage(reply.usage)})))
    frames.append((None, "[DONE]"))
    return frames


# -- responses -------------------------------------------------------------------------------------


def _responses_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens} if usage.details else None,
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens} if usage.details else None,
        "total_tokens": usage.total_tokens,
    }


def _message_item(ex: Exchange, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": f"msg_fake{ex.serial}",
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def _function_item(ex: Exchange, index: int, arguments: str, status: str = "completed") -> dict[str, Any]:
    call = ex.reply.tool_calls[index]
    return {
        "type": "function_call",
        "id": f"fc_fake{ex.serial}_{index}",
        "call_id": ex.tool_id(index, "call_"),
        "name": call.name,
        "arguments": arguments,
        "status": status,
    }


def _response(ex: Exchange, output: list[dict[str, Any]], *, done: bool) -> dict[str, Any]:
    request = ex.request
    usage = ex.reply.usage
    return {
        "id": f"resp_fake{ex.serial}",
        "object": "response",
        "created_at": ex.created,
        "status": "completed" if done else "in_progress",
        "completed_at": ex.created if done else None,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": ex.model(DEFAULT_CHAT_MODEL),
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": request.get("store", True),
        "temperature": request.get("temperature", 1.0),
        "text": request.get("text", {"format": {"type": "text"}}),
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools", []),
        "top_p": request.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _responses_usage(usage) if done and usage is not None else None,
        "user": request.get("user"),
        "metadata": request.get("metadata", {}),
    }


def _final_output(ex: Exchange) -> list[dict[str, Any]]:
    text = ex.reply.resolved_text
    output = [_message_item(ex, text)] if text else []
    output.extend(_function_item(ex, i, c.arguments_json()) for i, c in enumerate(ex.reply.tool_calls))
    return output


def responses_body(ex: Exchange) -> dict[str, Any]:
    """A non-streamed ``response`` object: a message item (if any text), then function_call items."""
    return _response(ex, _final_output(ex), done=True)


def responses_frames(ex: Exchange) -> list[Frame]:
    """Typed events from ``response.created`` to ``response.completed``, numbered by sequence_number."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    emit("response.created", response=_response(ex, [], done=False))
    emit("response.in_progress", response=_response(ex, [], done=False))
    text = ex.reply.resolved_text
    output_index = 0
    if text:
        item_id = f"msg_fake{ex.serial}"
        at = {"item_id": item_id, "output_index": output_index, "content_index": 0}
        emit("response.output_item.added", output_index=0, item=_message_item(ex, "", "in_progress"))
        empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        emit("response.content_part.added", **at, part=empty_part)
        for piece in ex.pieces(text):
            emit("response.output_text.delta", **at, delta=piece, logprobs=[])
        emit("response.output_text.done", **at, text=text, logprobs=[])
        emit("response.content_part.done", **at, part={**empty_part, "text": text})
        emit("response.output_item.done", output_index=0, item=_message_item(ex, text))
        output_index += 1
    for index, call in enumerate(ex.reply.tool_calls):
        arguments = call.arguments_json()
        at = {"item_id": f"fc_fake{ex.serial}_{index}", "output_index": output_index}
        emit(
            "response.output_item.added",
            output_index=output_index,
            item=_function_item(ex, index, "", "in_progress"),
        )
        for piece in ex.pieces(arguments):
            emit("response.function_call_arguments.delta", **at, delta=piece)
        emit("response.function_call_arguments.done", **at, arguments=arguments, name=call.name)
        emit(
            "response.output_item.done", output_index=output_index, item=_function_item(ex, index, arguments)
        )
        output_index += 1
    emit("response.completed", response=_response(ex, _final_output(ex), done=True))
    return [(event["type"], _json(event)) for event in events]


def responses_error_frame(failure: Failure, sequence_number: int = 0) -> Frame:
    """An ``error`` event of a Responses stream."""
    error_type = failure.error_type or _ERROR_TYPES.get(failure.status, "server_error")
    payload = {
        "type": "error",
        "sequence_number": sequence_number,
        "code": failure.code or error_type,
        "message": failure.describe(),
        "param": None,
    }
    return "error", _json(payload)


# -- embeddings ------------------------------------------------------------------------------------


def _inputs(value: Any) -> list[str]:
    """One string per embedded input: a str, a list of str, a token list, or a list of token lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [_json(value)]
    if isinstance(value, list):
        return [v if isinstance(v, str) else _json(v) for v in value]
    return [_json(value)]


def _vector(text: str, dimensions: int) -> list[float]:
    """A deterministic vector in [-1, 1) for ``text``; float32-exact so base64 round-trips."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((byte - 128) / 128 for byte in digest)
        counter += 1
    return values[:dimensions]


def embeddings_body(ex: Exchange) -> dict[str, Any]:
    """``{"object": "list", "data": [...], "model", "usage"}``; base64 when the request asked for it."""
    requested = ex.request.get("dimensions")
    dimensions = requested if isinstance(requested, int) and requested > 0 else DEFAULT_DIMENSIONS
    as_base64 = ex.request.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(_inputs(ex.request.get("input"))):
        vector = _vector(text, dimensions)
        encoded: Any = vector
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    body: dict[str, Any] = {"object": "list", "data": data, "model": ex.model(DEFAULT_EMBEDDING_MODEL)}
    usage = ex.reply.usage
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage.input_tokens, "total_tokens": usage.input_tokens}
    return body
