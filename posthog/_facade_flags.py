"""The module-level flag functions of the facade (``posthog.get_feature_flag(...)`` ...).

Each is the default client's method of the same name, with the 3.x module signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from ._default_client import default as _proxy
from .types import FeatureFlagResult, FlagsAndPayloads, FlagValue

__all__ = [
    "feature_enabled",
    "feature_flag_definitions",
    "get_all_flags",
    "get_all_flags_and_payloads",
    "get_feature_flag",
    "get_feature_flag_payload",
    "get_feature_flag_result",
    "get_remote_config_payload",
    "load_feature_flags",
]


def feature_enabled(
    key: str,
    distinct_id: Any = None,
    groups: Optional[Mapping[str, Any]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    only_evaluate_locally: bool = False,
    send_feature_flag_events: bool = True,
    disable_geoip: Optional[bool] = None,
) -> Optional[bool]:
    """Whether the flag is on for this user (``None`` if undetermined)."""
    return _proxy().feature_enabled(
        key,
        distinct_id,
        groups=groups,
        person_properties=person_properties,
        group_properties=group_properties,
        only_evaluate_locally=only_evaluate_locally,
        send_feature_flag_events=send_feature_flag_events,
        disable_geoip=disable_geoip,
    )


def get_feature_flag(
    key: str,
    distinct_id: Any = None,
    groups: Optional[Mapping[str, Any]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    only_evaluate_locally: bool = False,
    send_feature_flag_events: bool = True,
    disable_geoip: Optional[bool] = None,
) -> Optional[FlagValue]:
    """The flag's value for this user (``True``/``False``/variant, ``None`` if undetermined)."""
    return _proxy().get_feature_flag(
        key,
        distinct_id,
        groups=groups,
        person_properties=person_properties,
        group_properties=group_properties,
        only_evaluate_locally=only_evaluate_locally,
        send_feature_flag_events=send_feature_flag_events,
        disable_geoip=disable_geoip,
    )


def get_all_flags(
    distinct_id: Any = None,
    groups: Optional[Mapping[str, Any]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    only_evaluate_locally: bool = False,
    disable_geoip: Optional[bool] = None,
) -> Optional[dict[str, FlagValue]]:
    """Every flag's value for this user."""
    return _proxy().get_all_flags(
        distinct_id,
        groups=groups,
        person_properties=person_properties,
        group_properties=group_properties,
        only_evaluate_locally=only_evaluate_locally,
        disable_geoip=disable_geoip,
    )


def get_feature_flag_payload(
    key: str,
    distinct_id: Any = None,
    match_value: Optional[FlagValue] = None,
    groups: Optional[Mapping[str, Any]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    only_evaluate_locally: bool = False,
    send_feature_flag_events: bool = True,
    disable_geoip: Optional[bool] = None,
) -> Any:
    """The flag's payload for this user, as stored (a JSON string), or ``None``."""
    return _proxy().get_feature_flag_payload(
        key,
        distinct_id,
        match_value=match_value,
        groups=groups,
        person_properties=person_properties,
        group_properties=group_properties,
        only_evaluate_locally=only_evaluate_locally,
        send_feature_flag_events=send_feature_flag_events,
        disable_geoip=disable_geoip,
    )


def get_feature_flag_result(
    key: str,
    distinct_id: Any = None,
    groups: Optional[Mapping[str, Any]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    only_evaluate_locally: bool = False,
    send_feature_flag_events: bool = True,
    disable_geoip: Optional[bool] = None,
    device_id: Optional[str] = None,
) -> Optional[FeatureFlagResult]:
    """The flag's value, variant, decoded payload and reason for this user, or ``None``."""
    return _proxy().get_feature_flag_result(
        key,
        distinct_id,
        groups=groups,
        person_properties=person_properties,
        group_properties=group_properties,
        only_evaluate_locally=only_evaluate_locally,
        send_feature_flag_events=send_feature_flag_events,
        disable_geoip=disable_geoip,
        device_id=device_id,
    )


def get_remote_config_payload(key: str) -> Any:
    """A remote-config flag's payload (needs ``personal_api_key``)."""
    return _proxy().get_remote_config_payload(key)


def get_all_flags_and_payloads(
    distinct_id: Any = None,
    groups: Optional[Mapping[str, Any]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    only_evaluate_locally: bool = False,
    disable_geoip: Optional[bool] = None,
) -> FlagsAndPayloads:
    """Every flag's value and payload."""
    return _proxy().get_all_flags_and_payloads(
        distinct_id,
        groups=groups,
        person_properties=person_properties,
        group_properties=group_properties,
        only_evaluate_locally=only_evaluate_locally,
        disable_geoip=disable_geoip,
    )


def feature_flag_definitions() -> Optional[list[dict[str, Any]]]:
    """The current flag definitions."""
    return _proxy().feature_flag_definitions()


def load_feature_flags() -> None:
    """Fetch flag definitions now."""
    _proxy().load_feature_flags()
