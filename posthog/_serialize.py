"""Turn messages into strict JSON bytes, once: convert what JSON cannot carry, drop what cannot be converted.

Nothing here raises for a value's sake: an unconvertible element is dropped (only that element,
not the list or the event) and the reason is logged once per kind of value.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import logging
import math
import os
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Final, Optional
from uuid import UUID

__all__ = [
    "MAX_DEPTH",
    "clean",
    "copy_properties",
    "encode_array",
    "encode_message",
    "encode_message_text",
    "encode_text",
    "nests_deeper",
]

log = logging.getLogger("posthog")

# check_circular=False: faster; a self-referencing value raises RecursionError, which sends the
# message down the careful path (clean() drops the cycle).
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, separators=(",", ":"), check_circular=False
)
#: How many levels of containers a property value keeps; deeper ones are cut (logged once). An
#: event then nests at most MAX_DEPTH + 2 levels (message, properties), its batch two more: well
#: within the 128 levels PostHog's capture service parses. Explicit, so it does not depend on how
#: far the interpreter's C encoder recurses (about 1000 levels on 3.11, 10000 on 3.13).
MAX_DEPTH: Final = 64
_MAX_DEPTH: Final = MAX_DEPTH
_SCALARS: Final = frozenset({int, float, bool, type(None)})
_DROP: Final = object()
_logged: set[str] = set()


def _note(reason: str, detail: str) -> None:
    # Once per kind of problem per process: never once per event, never the value itself.
    if reason not in _logged:
        _logged.add(reason)
        log.warning("a property value JSON cannot carry was converted or dropped (%s): %s", reason, detail)


def _key(key: object) -> str:
    if type(key) is str:
        return key
    # The same text json.dumps would have produced for a scalar key.
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, (int, float)):
        return _ENCODER.encode(key) if math.isfinite(key) else str(key)
    if isinstance(key, str):
        return str(key)
    return str(_clean(key, 0, set())) if isinstance(key, (UUID, Decimal, enum.Enum)) else str(key)


def _clean(value: Any, depth: int, active: set[int]) -> Any:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if math.isfinite(value):
            return value
        _note("non-finite float", "NaN/Infinity sent as null")
        return None
    if depth > _MAX_DEPTH:
        _note("too deep", f"nesting deeper than {_MAX_DEPTH} levels")
        return _DROP
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        marker = id(value)
        if marker in active:
            _note("recursive", "a container that contains itself")
            return _DROP
        active.add(marker)
        try:
            if isinstance(value, Mapping):
                out: dict[str, Any] = {}
                for k, v in value.items():
                    cleaned = _clean(v, depth + 1, active)
                    if cleaned is not _DROP:
                        try:
                            out[_key(k)] = cleaned
                        except Exception as exc:  # a key whose str() raises: drop that item only
                            _note("unusable key", type(exc).__name__)
                return out
            items = [_clean(v, depth + 1, active) for v in value]
            return [v for v in items if v is not _DROP]
        finally:
            active.discard(marker)
    return _convert(value, depth, active)


def _convert(value: Any, depth: int, active: set[int]) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, enum.Enum):
        return _clean(value.value, depth + 1, active)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _clean(float(value), depth, active)
    if isinstance(value, (Decimal, Fraction)):
        return _clean(float(value), depth, active)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, complex):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _clean(dataclasses.asdict(value), depth + 1, active)
    if isinstance(value, os.PathLike):
        return os.fspath(value) if isinstance(os.fspath(value), str) else str(value)
    for method in ("model_dump", "dict", "item"):
        fn = getattr(value, method, None)
        if callable(fn):
            try:
                return _clean(fn(), depth + 1, active)
            except Exception as exc:  # a user object's own method failed; drop just this value
                _note(f"{type(value).__name__}.{method}() failed", type(exc).__name__)
                return _DROP
    _note(f"unsupported type {type(value).__name__}", "no JSON form")
    return _DROP


def clean(value: Any) -> Any:
    """Return a JSON-safe copy of ``value`` (dropped elements are left out and logged once)."""
    cleaned = _clean(value, 0, set())
    return None if cleaned is _DROP else cleaned


def _one_shot_encoder() -> Callable[[Any], str]:
    """``_ENCODER.encode`` without its per-call set-up: the C encoder is built once."""
    import json.encoder as stdlib_encoder

    c_make_encoder = getattr(stdlib_encoder, "c_make_encoder", None)
    encode_basestring_ascii = stdlib_encoder.encode_basestring_ascii
    if c_make_encoder is None:  # pragma: no cover - interpreters without the C accelerator
        return _ENCODER.encode
    # The arguments JSONEncoder.iterencode passes for these settings (no markers: no cycle check).
    make = c_make_encoder(
        None, _ENCODER.default, encode_basestring_ascii, None, ":", ",", False, False, False
    )
    join = "".join

    def encode(value: Any) -> str:
        if type(value) is str:
            return encode_basestring_ascii(value)
        return join(make(value, 0))

    return encode


#: Compact, strict, ASCII JSON text of a value JSON carries as is; raises otherwise.
encode_text: Final = _one_shot_encoder()


def encode_array(messages: list[dict[str, Any]]) -> bytes:
    """Encode a list of messages in one go; raises when a value needs converting."""
    return encode_text(messages).encode("ascii")


def nests_deeper(value: Any, text: str, limit: int) -> bool:
    """Whether ``value``, whose JSON ``text`` this is, has more than ``limit`` levels of containers.

    Cheap for the usual event: each level costs at least two characters and one bracket of the
    text, so only a text with more than ``limit`` brackets has its containers walked.
    """
    if len(text) <= 2 * limit or text.count("{") + text.count("[") <= limit:
        return False
    level: list[Any] = [value]
    for _ in range(limit):
        deeper: list[Any] = []
        for container in level:
            items = container.values() if isinstance(container, Mapping) else container
            deeper.extend(item for item in items if isinstance(item, (dict, list, tuple)))
        if not deeper:
            return False
        level = deeper
    return True


def encode_message_text(msg: Mapping[str, Any]) -> str:
    """One message as compact, strict, ASCII JSON text (values JSON cannot carry are converted)."""
    try:
        text = encode_text(msg)
    except (TypeError, ValueError, RecursionError):
        pass
    else:
        # The message and its properties are two levels; a value nested deeper than MAX_DEPTH is cut.
        if not nests_deeper(msg, text, MAX_DEPTH + 2):
            return text
    # Something needs converting (Decimal, NaN, a set, a cycle, deep nesting...): the careful path.
    # It starts one level up so that property values keep MAX_DEPTH levels, as in copy_properties.
    cleaned = _clean(msg, -1, set())
    if cleaned is _DROP:
        cleaned = None
    try:
        return _ENCODER.encode(cleaned)
    except (TypeError, ValueError, RecursionError):
        # Still not encodable (an int past Python's digit limit...): keep everything else.
        return _ENCODER.encode(_prune(cleaned))


def encode_message(msg: Mapping[str, Any]) -> bytes:
    """Encode one message as compact, strict, ASCII JSON bytes."""
    return encode_message_text(msg).encode("ascii")


def _encodable(value: Any) -> bool:
    try:
        _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _prune(value: Any) -> Any:
    """Drop, element by element, what the encoder still refuses (only on the failure path)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if _encodable(item):
                out[key] = item
            elif isinstance(item, (dict, list)):
                out[key] = _prune(item)
            else:
                _note("unencodable value", type(item).__name__)
        return out
    if isinstance(value, list):
        kept: list[Any] = []
        for item in value:
            if _encodable(item):
                kept.append(item)
            elif isinstance(item, (dict, list)):
                kept.append(_prune(item))
            else:
                _note("unencodable value", type(item).__name__)
        return kept
    return value if _encodable(value) else None


def copy_properties(source: Mapping[str, Any], into: dict[str, Any]) -> None:
    """Copy ``source`` into ``into`` as it is now.

    Scalars are shared; anything else is copied (plain JSON containers) or cleaned (a deep,
    JSON-safe copy), so later changes by the caller do not leak into the event.
    """
    convert: Optional[list[Any]] = None
    for key, value in source.items():
        t = type(value)
        if t is not str and (t not in _SCALARS or (t is float and value - value != 0)):
            if convert is None:
                convert = []
            convert.append(key)
    into.update(source)
    if convert is not None:
        for key in convert:
            value = source[key]
            plain = _copy_plain(value, 0)
            if plain is not _DROP:
                into[key] = plain
                continue
            cleaned = _clean(value, 1, set())
            if cleaned is _DROP:
                del into[key]
            else:
                into[key] = cleaned


def _copy_plain(value: Any, depth: int) -> Any:
    """Copy a dict/list of plain JSON values (str keys; str, int, bool, None, finite float leaves).

    Returns ``_DROP`` when anything needs the careful path. This is the common shape of nested
    properties (``{"utm": {"campaign": ...}}``) and costs a fraction of :func:`clean`.
    """
    t = type(value)
    if depth > 16:
        return _DROP
    if t is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                return _DROP
            item = _plain_item(item, depth)
            if item is _DROP:
                return _DROP
            out[key] = item
        return out
    if t is list:
        items: list[Any] = []
        for item in value:
            item = _plain_item(item, depth)
            if item is _DROP:
                return _DROP
            items.append(item)
        return items
    return _DROP


def _plain_item(item: Any, depth: int) -> Any:
    ti = type(item)
    if ti is str or ti is int or ti is bool or item is None or (ti is float and item - item == 0):
        return item
    if ti is dict or ti is list:
        return _copy_plain(item, depth + 1)
    return _DROP
