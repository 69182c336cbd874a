"""The JSON text of a message, built once on the caller's thread.

Queued events are held as this text (compact, immutable: later changes by the caller cannot reach
them) and the background threads only join it into batches. ``capture`` with plain JSON
properties takes a fast path: the caller's properties are encoded by one C call and set beside a
fragment of the properties every event carries, encoded once per process.
"""

from __future__ import annotations

import json.encoder
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final, Optional

from ._messages import LIB
from ._serialize import MAX_DEPTH, encode_text, nests_deeper
from ._system_context import system_context
from .version import VERSION

__all__ = ["RESERVED_KEYS", "PlainParts", "capture_text", "clashes", "encode_plain", "plain_parts", "quoted"]

#: Property keys the SDK sets itself; a caller's properties using one take the general path.
RESERVED_KEYS: Final = frozenset({"$lib", "$lib_version", "$geoip_disable", "$groups"})
_CACHE_LIMIT: Final = 4096
_quote: Final = json.encoder.encode_basestring_ascii
_quoted_cache: dict[str, str] = {}


def quoted(text: str) -> str:
    """``text`` as a JSON string literal (event names repeat: cached)."""
    cached = _quoted_cache.get(text)
    if cached is None:
        cached = encode_text(text)
        if len(_quoted_cache) < _CACHE_LIMIT:
            _quoted_cache[text] = cached
    return cached


@lru_cache(maxsize=1)
def _common() -> tuple[str, frozenset[str]]:
    """The encoded system context, ``$lib`` and ``$lib_version``, and every key they use."""
    common = dict(system_context())
    common["$lib"] = LIB
    common["$lib_version"] = VERSION
    return encode_text(common)[1:-1], frozenset(common) | RESERVED_KEYS


def encode_plain(value: Mapping[str, Any]) -> Optional[str]:
    """``value`` as JSON text if it holds only what JSON carries as is (else None: clean it first).

    A value nested deeper than ``MAX_DEPTH`` levels is not plain either: the careful path cuts it.
    """
    try:
        text = encode_text(value)
    except (TypeError, ValueError, RecursionError):
        return None
    return None if nests_deeper(value, text, MAX_DEPTH + 1) else text


def clashes(properties: Mapping[str, Any]) -> bool:
    """Whether the caller's properties use a key the SDK sets on every capture."""
    return not _common()[1].isdisjoint(properties)


#: (caller's properties as JSON text, groups as JSON text) for the capture fast path
PlainParts = tuple[Optional[str], Optional[str]]


def plain_parts(
    properties: Optional[Mapping[str, Any]],
    groups: Optional[Mapping[str, Any]],
    flag_props: Optional[Mapping[str, Any]] = None,
) -> Optional[PlainParts]:
    """The caller's properties (after ``flag_props``) and groups as JSON text.

    None unless everything is plain JSON and no key is set twice: then the general path decides.
    """
    props_text = groups_text = None
    if properties:
        if clashes(properties):
            return None
        props_text = encode_plain(properties)
        if props_text is None:
            return None
    if flag_props:
        flags_text = encode_plain(flag_props)
        if flags_text is None or (properties and not flag_props.keys().isdisjoint(properties)):
            return None
        props_text = flags_text if props_text is None else flags_text[:-1] + "," + props_text[1:]
    if groups:
        groups_text = encode_plain(groups)
        if groups_text is None:
            return None
    return props_text, groups_text


def capture_text(
    event: str,
    distinct_id: str,
    properties_text: Optional[str],
    groups_text: Optional[str],
    geoip_disable: bool,
    timestamp: str,
    uuid: str,
) -> str:
    """The wire text of a capture whose properties are the common ones plus plain caller values."""
    props = _common()[0]
    if geoip_disable:
        props += ',"$geoip_disable":true'
    if properties_text is not None and len(properties_text) > 2:
        props += "," + properties_text[1:-1]
    if groups_text is not None:
        props += ',"$groups":' + groups_text
    # The timestamp is ISO-8601 text of our own making: nothing in it needs escaping.
    return '{"event":%s,"distinct_id":%s,"properties":{%s},"timestamp":"%s","uuid":%s}' % (  # noqa: UP031
        quoted(event),
        _quote(distinct_id),
        props,
        timestamp,
        _quote(uuid),
    )
