"""What the fake PostHog keeps and answers with: request records, flag state, replies."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Final, Optional, Union

from .scenarios import JOIN_DEADLINE

__all__ = ["CONTROL_PREFIX", "HOST", "FlagValue", "FlagsHandler", "Headers", "RecordedRequest"]

FlagValue = Union[bool, str]
FlagsHandler = Callable[[dict[str, Any]], "tuple[int, Any]"]
V1Outcome = tuple[str, Optional[str], Optional[str]]  # (uuid, result or None if left out, details)

HOST: Final = "127.0.0.1"
CONTROL_PREFIX: Final = "/_fake/"
_REMOTE_CONFIG: Final = re.compile(r"/api/projects/[^/]+/feature_flags/(?P<key>.+)/remote_config")
_DEFINITIONS_ROUTES: Final = frozenset({"/api/feature_flag/local_evaluation", "/flags/definitions"})
_MATCHED: Final = {"code": "condition_match", "condition_index": 0, "description": "Matched condition set 1"}
_NOT_MATCHED: Final = {
    "code": "no_condition_match",
    "condition_index": None,
    "description": "No matching condition set",
}
_JOIN_DEADLINE: Final = JOIN_DEADLINE  # seconds close() waits for connection threads


class Headers(Mapping[str, str]):
    """Request headers: iteration keeps the names as sent, lookups ignore case."""

    __slots__ = ("_by_lower", "_items")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items: dict[str, str] = {}
        for name, value in items:
            previous = self._items.get(name)
            self._items[name] = value if previous is None else f"{previous}, {value}"
        self._by_lower = {name.lower(): value for name, value in self._items.items()}

    def __getitem__(self, name: str) -> str:
        return self._by_lower[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_lower

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it; ``status`` is what it answered (None: dropped or hung)."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]  # blank values kept: "?send_cohorts" -> {"send_cohorts": [""]}
    headers: Headers
    raw_body: bytes  # as received (possibly gzip)
    body: bytes  # decoded
    json: Any  # parsed body, or None
    time: float  # time.monotonic() at arrival
    status: int | None = None
    v1_results: tuple[V1Outcome, ...] | None = None  # capture v1: what the fake answered, per event

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        return self.headers.get(name, default)

    @property
    def text(self) -> str:
        """The decoded body as text (invalid UTF-8 replaced)."""
        return self.body.decode("utf-8", "replace")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form used by ``GET /_fake/requests``."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers),
            "body": self.text,
            "json": self.json,
            "time": self.time,
            "status": self.status,
            **({} if self.v1_results is None else {"v1_results": [list(o) for o in self.v1_results]}),
        }


@dataclass(frozen=True)
class _RemoteFlags:
    flags: Mapping[str, FlagValue] = field(default_factory=dict)
    payloads: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    request_id: str | None = None
    errors_while_computing: bool = False
    quota_limited: bool = False


@dataclass(frozen=True)
class _Definitions:
    content: Any
    body: bytes
    etag: str

    @classmethod
    def of(cls, content: Any) -> _Definitions:
        body = json.dumps(content).encode("utf-8")
        digest = hashlib.sha1(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()
        return cls(content, body, f'"{digest}"')


@dataclass(frozen=True)
class _Reply:
    status: int
    payload: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    v1_results: tuple[V1Outcome, ...] | None = None


def _encode_payload(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [part.strip() for part in if_none_match.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)
