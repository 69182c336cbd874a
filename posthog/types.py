"""Public value types of the flag API (frozen dataclasses) and the converters of remote answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, TypedDict, Union

__all__ = [
    "FeatureFlag",
    "FeatureFlagResult",
    "FlagMetadata",
    "FlagReason",
    "FlagValue",
    "FlagsAndPayloads",
    "FlagsResponse",
    "LegacyFlagMetadata",
    "normalize_flags_response",
    "to_flags_and_payloads",
    "to_payloads",
    "to_values",
]

FlagValue = Union[bool, str]


@dataclass(frozen=True)
class FlagReason:
    """Why the server gave a flag its value."""

    code: str
    condition_index: int
    description: str

    @classmethod
    def from_json(cls, data: Any) -> Optional[FlagReason]:
        """Build from the server's ``reason`` object; ``None`` for a falsy one."""
        if not data or not isinstance(data, dict):
            return None
        return cls(
            code=data.get("code") or "",
            condition_index=data.get("condition_index") or 0,
            description=data.get("description") or "",
        )


@dataclass(frozen=True)
class LegacyFlagMetadata:
    """Metadata of a flag from a legacy (``featureFlags``) answer: only the payload."""

    payload: Any


@dataclass(frozen=True)
class FlagMetadata:
    """A flag's id, version, description and payload (the JSON string PostHog stores)."""

    id: int
    payload: Optional[str]
    version: int
    description: str

    @classmethod
    def from_json(cls, data: Any) -> Union[FlagMetadata, LegacyFlagMetadata]:
        """Build from the server's ``metadata`` object."""
        if not data or not isinstance(data, dict):
            return LegacyFlagMetadata(payload=None)
        return cls(
            id=data.get("id") or 0,
            payload=data.get("payload"),
            version=data.get("version") or 0,
            description=data.get("description") or "",
        )


@dataclass(frozen=True)
class FeatureFlag:
    """One flag as evaluated by the server."""

    key: str
    enabled: bool
    variant: Optional[str]
    reason: Optional[FlagReason]
    metadata: Union[FlagMetadata, LegacyFlagMetadata]

    def get_value(self) -> FlagValue:
        """The variant if there is one, else whether the flag is enabled."""
        return self.variant or self.enabled

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureFlag:
        """Build from a v2 ``/flags`` (v4 ``/decide``) flag object."""
        return cls(
            key=data.get("key") or "",
            enabled=bool(data.get("enabled")),
            variant=data.get("variant"),
            reason=FlagReason.from_json(data.get("reason")),
            metadata=FlagMetadata.from_json(data.get("metadata")),
        )

    @classmethod
    def from_value_and_payload(cls, key: str, value: FlagValue, payload: Any) -> FeatureFlag:
        """Build from a legacy ``featureFlags`` value and ``featureFlagPayloads`` entry."""
        is_variant = isinstance(value, str)
        return cls(
            key=key,
            enabled=True if is_variant else bool(value),
            variant=value if is_variant else None,  # type: ignore[arg-type]
            reason=None,
            metadata=LegacyFlagMetadata(payload=payload if payload else None),
        )


def decode_payload(payload: Any) -> Any:
    """A stored payload decoded from JSON (a non-string one as is; ``None`` if it is not JSON)."""
    if not isinstance(payload, str):
        return payload
    try:
        return json.loads(payload)
    except ValueError:
        return None


@dataclass(frozen=True)
class FeatureFlagResult:
    """A flag's evaluation for one user (upstream 7.x's result type): whether it is enabled, its
    variant, its payload (decoded from JSON) and, when the server decided, its reason."""

    key: str
    enabled: bool
    variant: Optional[str]
    payload: Optional[Any]
    reason: Optional[str]

    def get_value(self) -> FlagValue:
        """The variant if there is one, else whether the flag is enabled."""
        return self.variant if self.variant is not None else self.enabled

    @classmethod
    def from_value_and_payload(
        cls, key: str, value: Optional[FlagValue], payload: Any, reason: Optional[str] = None
    ) -> Optional[FeatureFlagResult]:
        """The result for a flag value (``None`` for an unknown one) and its stored payload."""
        if value is None:
            return None
        is_variant = isinstance(value, str)
        return cls(
            key=key,
            enabled=True if is_variant else bool(value),
            variant=value if is_variant else None,  # type: ignore[arg-type]
            payload=decode_payload(payload),
            reason=reason,
        )

    @classmethod
    def from_flag_details(
        cls, details: Optional[FeatureFlag], override_match_value: Optional[FlagValue] = None
    ) -> Optional[FeatureFlagResult]:
        """The result for a server-evaluated flag; ``override_match_value`` replaces its value."""
        if details is None:
            return None
        value = details.get_value() if override_match_value is None else override_match_value
        reason = details.reason.description if details.reason is not None else None
        return cls.from_value_and_payload(details.key, value, details.metadata.payload, reason)


class FlagsResponse(TypedDict, total=False):
    """A normalised remote answer."""

    flags: dict[str, FeatureFlag]
    errorsWhileComputingFlags: bool
    requestId: Optional[str]
    quotaLimit: Optional[list[str]]


class FlagsAndPayloads(TypedDict, total=True):
    """``get_all_flags_and_payloads`` result."""

    featureFlags: Optional[dict[str, FlagValue]]
    featureFlagPayloads: Optional[dict[str, Any]]


def normalize_flags_response(resp: Any) -> FlagsResponse:
    """Turn either answer shape (v2 ``flags`` or legacy ``featureFlags``) into a :class:`FlagsResponse`."""
    data: dict[str, Any] = dict(resp) if isinstance(resp, dict) else {}
    if "requestId" not in data:
        data["requestId"] = None
    raw_flags = data.get("flags")
    if isinstance(raw_flags, dict):
        flags: dict[str, FeatureFlag] = {}
        for key, item in raw_flags.items():
            if isinstance(item, dict):
                flags[key] = FeatureFlag.from_json({**item, "key": key})
        data["flags"] = flags
    else:
        values = data.pop("featureFlags", None) or {}
        payloads = data.pop("featureFlagPayloads", None) or {}
        data["flags"] = {
            key: FeatureFlag.from_value_and_payload(key, value, payloads.get(key))
            for key, value in (values.items() if isinstance(values, dict) else ())
        }
    return data  # type: ignore[return-value]


def to_values(response: FlagsResponse) -> Optional[dict[str, FlagValue]]:
    """``{key: value}`` of every flag in the answer."""
    flags = response.get("flags")
    if flags is None:
        return None
    return {key: flag.get_value() for key, flag in flags.items()}


def to_payloads(response: FlagsResponse) -> Optional[dict[str, str]]:
    """``{key: payload}`` of enabled flags that have a payload."""
    flags = response.get("flags")
    if flags is None:
        return None
    return {
        key: flag.metadata.payload for key, flag in flags.items() if flag.enabled and flag.metadata.payload
    }


def to_flags_and_payloads(resp: FlagsResponse) -> FlagsAndPayloads:
    """Values and payloads of an answer."""
    return {"featureFlags": to_values(resp), "featureFlagPayloads": to_payloads(resp)}
