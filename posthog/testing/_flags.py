"""Deterministic flags for tests: fixed values for everyone or per user, over optional real definitions.

    flags = (
        FlagOverrides()
        .flag("new-checkout", True)
        .flag("pricing-test", "variant-b", payload={"discount": 10})
        .for_user("user-42", "new-checkout", False)
    )

A flag is decided, in order, by the user's own override, then the override for everyone, then the
real definitions (``FlagOverrides.from_definitions``) evaluated offline; otherwise it is ``None``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Optional, Union

from ..feature_flags.definitions import FlagDefinitions
from ..types import FlagValue

__all__ = ["FlagOverride", "FlagOverrides"]

DefinitionsSource = Union[Mapping[str, Any], str, "os.PathLike[str]"]

#: Missing from hand-written definitions, present in every local_evaluation answer.
_EMPTY_PARTS: Final[Mapping[str, Any]] = MappingProxyType({"group_type_mapping": {}, "cohorts": {}})


@dataclass(frozen=True)
class FlagOverride:
    """One fixed answer: the flag's value and its payload as PostHog stores it (JSON text) or ``None``."""

    value: FlagValue
    payload: Optional[str] = None


def _stored_payload(payload: Any) -> Optional[str]:
    # PostHog stores payloads as JSON text and the client returns them as stored: a str is taken
    # as that text, anything else is encoded, so tests see what production code sees.
    if payload is None or isinstance(payload, str):
        return payload
    return json.dumps(payload)


def _checked(key: object, value: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"key must be str, got {type(key).__name__}")
    if not isinstance(value, (bool, str)):
        raise TypeError(f"value must be a bool or a variant name (str), got {type(value).__name__}")


def load_definitions(source: DefinitionsSource) -> dict[str, Any]:
    """Read local_evaluation JSON from a mapping or a file path; missing sections default to empty.

    Raises:
        ValueError: the body is not local_evaluation JSON (checked now, not at the first flag call).
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8") as fh:
            body: Any = json.load(fh)
    else:
        body = source
    if not isinstance(body, Mapping):
        raise ValueError(f"flag definitions must be a JSON object, got {type(body).__name__}")
    full = {**_EMPTY_PARTS, **body}
    FlagDefinitions.from_response(full)  # raises ValueError with the reason
    return full


class FlagOverrides:
    """A builder of fixed flag answers; every method returns the builder so calls chain.

    Readers (the client, maybe on other threads) always see a whole table: each change builds
    new dicts and assigns them once.
    """

    def __init__(self, definitions: Optional[DefinitionsSource] = None) -> None:
        self._everyone: Mapping[str, FlagOverride] = MappingProxyType({})
        self._users: Mapping[str, Mapping[str, FlagOverride]] = MappingProxyType({})
        #: local_evaluation JSON evaluated offline for flags without an override (or ``None``).
        self.definitions: Optional[dict[str, Any]] = (
            None if definitions is None else load_definitions(definitions)
        )

    @classmethod
    def from_definitions(cls, definitions: DefinitionsSource) -> FlagOverrides:
        """Real ``local_evaluation`` JSON (a dict or a file path): the real rules decide, offline."""
        return cls(definitions)

    @classmethod
    def from_mapping(cls, values: Mapping[str, FlagValue]) -> FlagOverrides:
        """``{"key": value}`` for everyone."""
        overrides = cls()
        for key, value in values.items():
            overrides.flag(key, value)
        return overrides

    def flag(self, key: str, value: FlagValue, *, payload: Any = None) -> FlagOverrides:
        """Give ``key`` this value (``True``/``False`` or a variant name) for everyone."""
        _checked(key, value)
        self._everyone = MappingProxyType(
            {**self._everyone, key: FlagOverride(value, _stored_payload(payload))}
        )
        return self

    def for_user(self, distinct_id: Any, key: str, value: FlagValue, *, payload: Any = None) -> FlagOverrides:
        """Give ``key`` this value for one distinct id only (it wins over :meth:`flag`)."""
        _checked(key, value)
        uid = str(distinct_id)
        own = {**self._users.get(uid, {}), key: FlagOverride(value, _stored_payload(payload))}
        self._users = MappingProxyType({**self._users, uid: MappingProxyType(own)})
        return self

    def lookup(self, distinct_id: Any, key: str) -> Optional[FlagOverride]:
        """The override that decides ``key`` for this user, or ``None`` (then the definitions decide)."""
        own = self._users.get(str(distinct_id))
        if own is not None and key in own:
            return own[key]
        return self._everyone.get(key)

    def default(self, key: str) -> Optional[FlagOverride]:
        """The override of ``key`` for everyone, or ``None``."""
        return self._everyone.get(key)

    def overrides_for(self, distinct_id: Any) -> dict[str, FlagOverride]:
        """Every override that applies to this user, by flag key."""
        return {**self._everyone, **self._users.get(str(distinct_id), {})}

    def __repr__(self) -> str:
        users = {uid: dict(own) for uid, own in self._users.items()}
        source = "" if self.definitions is None else f", {len(self.definitions['flags'])} defined flag(s)"
        return f"FlagOverrides(everyone={dict(self._everyone)!r}, users={users!r}{source})"
