"""LangChain objects as event properties: messages as {role, content}, states as plain data, usage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from .._sanitize import without_base64

__all__ = ["as_state", "error_text", "message_dict", "output_choices", "usage_properties"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function"}


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def message_dict(message: Any) -> dict[str, Any]:
    """A LangChain message as ``{role, content}`` (chat messages keep their own role)."""
    kind = _get(message, "type")
    role = _get(message, "role") if kind == "chat" else _ROLES.get(str(kind), kind)
    return {"role": role, "content": without_base64(_get(message, "content"))}


def as_state(value: Any, depth: int = 0) -> Any:
    """Inputs and outputs of runs as plain data (pydantic objects dumped, containers walked)."""
    if depth > 32:
        return None
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return as_state(dump(), depth + 1)
        except Exception:
            return repr(value)
    if isinstance(value, Mapping):
        return {str(k): as_state(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_state(v, depth + 1) for v in value]
    return value


def output_choices(response: Any) -> list[dict[str, Any]]:
    """``$ai_output_choices`` of an ``LLMResult``: the last generation of each prompt."""
    choices: list[dict[str, Any]] = []
    for generations in _get(response, "generations") or []:
        if not generations:
            continue
        generation = generations[-1]
        message = _get(generation, "message")
        if message is None:
            choices.append({"role": "assistant", "content": _get(generation, "text")})
            continue
        choice = message_dict(message)
        extra = _get(message, "additional_kwargs") or {}
        if isinstance(extra, Mapping):
            choice.update(as_state(extra))
        choices.append(choice)
    return choices


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_properties(response: Any) -> dict[str, Any]:
    """Token counts from the shapes LangChain providers report (usage_metadata or token_usage)."""
    input_tokens = output_tokens = None
    cache_read = reasoning = None
    for generations in _get(response, "generations") or []:
        for generation in generations or []:
            usage = _get(_get(generation, "message"), "usage_metadata")
            if usage:
                input_tokens = (input_tokens or 0) + (_int(_get(usage, "input_tokens")) or 0)
                output_tokens = (output_tokens or 0) + (_int(_get(usage, "output_tokens")) or 0)
                cache = _int(_get(_get(usage, "input_token_details"), "cache_read"))
                if cache:
                    cache_read = (cache_read or 0) + cache
                thought = _int(_get(_get(usage, "output_token_details"), "reasoning"))
                if thought:
                    reasoning = (reasoning or 0) + thought
    if input_tokens is None:
        output = _get(response, "llm_output") or {}
        usage = _get(output, "token_usage") or _get(output, "usage") or {}
        input_tokens = _int(_get(usage, "prompt_tokens")) or _int(_get(usage, "input_tokens"))
        output_tokens = _int(_get(usage, "completion_tokens")) or _int(_get(usage, "output_tokens"))
        cache_read = _int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens")) or _int(
            _get(usage, "cache_read_input_tokens")
        )
    props: dict[str, Any] = {"$ai_input_tokens": input_tokens or 0, "$ai_output_tokens": output_tokens or 0}
    if cache_read:
        props["$ai_cache_read_input_tokens"] = cache_read
    if reasoning:
        props["$ai_reasoning_tokens"] = reasoning
    return props


def error_text(error: BaseException) -> str:
    """``$ai_error`` as 3.x sends it for LangChain runs: ``"BadRequestError: <message>"``.

    The class name alone when the message is empty.
    """
    name = type(error).__name__
    try:
        message = str(error)
    except Exception:  # a user exception whose __str__ raises
        message = ""
    return f"{name}: {message}" if message else name
