"""Bounded, thread-safe memory of the ``$feature_flag_called`` events already sent, per distinct id."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Final, Optional

from ..types import FeatureFlag

__all__ = ["CalledEvents", "called_properties"]

_MAX_KEYS_PER_ID: Final = 1000


class CalledEvents:
    """LRU of distinct ids (keyed on ``str(distinct_id)``) to the flag responses reported for them.

    When full, the least recently used id is forgotten (never everything at once).
    """

    def __init__(self, max_ids: int = 50_000) -> None:
        self.max_ids = max_ids
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, set[str]] = OrderedDict()

    def first_time(self, distinct_id: object, flag_key: str, response: object) -> bool:
        """Record ``(flag, response)`` for the id; True if it was not recorded before."""
        ident = distinct_id if type(distinct_id) is str else str(distinct_id)
        marker = f"{flag_key}_{response}"
        with self._lock:
            seen = self._seen.get(ident)
            if seen is None:
                if len(self._seen) >= self.max_ids:
                    self._seen.popitem(last=False)
                seen = self._seen[ident] = set()
            else:
                self._seen.move_to_end(ident)
            if marker in seen:
                return False
            if len(seen) >= _MAX_KEYS_PER_ID:
                seen.clear()
            seen.add(marker)
            return True

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, distinct_id: object) -> bool:
        return str(distinct_id) in self._seen

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._seen.clear()


def called_properties(
    key: str,
    value: Any,
    locally: bool,
    *,
    remote_flag: Optional[FeatureFlag] = None,
    request_id: Optional[str] = None,
    payload: Any = None,
) -> dict[str, Any]:
    """The properties of a ``$feature_flag_called`` event."""
    props: dict[str, Any] = {
        "$feature_flag": key,
        "$feature_flag_response": value,
        "locally_evaluated": locally,
        f"$feature/{key}": value,
    }
    if payload:
        props["$feature_flag_payload"] = payload
    if request_id:
        props["$feature_flag_request_id"] = request_id
    if remote_flag is not None:
        if remote_flag.reason is not None and remote_flag.reason.description:
            props["$feature_flag_reason"] = remote_flag.reason.description
        metadata = remote_flag.metadata
        version = getattr(metadata, "version", None)
        if version:
            props["$feature_flag_version"] = version
        flag_id = getattr(metadata, "id", None)
        if flag_id:
            props["$feature_flag_id"] = flag_id
    return props
