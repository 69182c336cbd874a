"""Inputs as reported: the system prompt first, base64 image data replaced by a placeholder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Optional

__all__ = ["BASE64_PLACEHOLDER", "with_system_prompt", "without_base64"]

BASE64_PLACEHOLDER: Final = "[base64 image redacted]"


def _is_data_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("data:") and ";base64," in value[:100]


def without_base64(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` where inline base64 images (data URLs, base64 sources) are placeholders."""
    if depth > 32:
        return value
    if _is_data_url(value):
        return BASE64_PLACEHOLDER
    if isinstance(value, Mapping):
        if value.get("type") == "base64" and "data" in value:
            return {**value, "data": BASE64_PLACEHOLDER}
        return {key: without_base64(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_base64(item, depth + 1) for item in value]
    return value


def with_system_prompt(messages: Any, system: Optional[Any]) -> Any:
    """``messages`` (a list, or one text input) with ``system`` first as a system message."""
    if messages is None:
        listed: list[Any] = []
    elif isinstance(messages, str) or not isinstance(messages, Sequence):
        listed = [{"role": "user", "content": messages}]
    else:
        listed = list(messages)
    if system:
        listed.insert(0, {"role": "system", "content": system})
    return without_base64(listed)
