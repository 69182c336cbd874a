"""The flag methods of ``Client`` (3.x signatures: keyword-only after ``distinct_id``).

Each checks its arguments and asks the client's ``FlagResolver``; nothing else lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from . import _pid
from ._client_flag_attributes import NO_GROUPS, FlagAttributes, check_flag_call
from ._context_events import _context_id
from ._kill_switch import ENV_DATA, ENV_KEY
from ._validation import require_id, require_mapping, require_str
from .feature_flags.single_code import single_of
from .types import (
    FeatureFlagResult,
    FlagsAndPayloads,
    FlagValue,
    normalize_flags_response,
    to_flags_and_payloads,
    to_payloads,
    to_values,
)

__all__ = ["FlagMethods"]


class FlagMethods(FlagAttributes):
    """Feature-flag methods of ``Client`` (blocking)."""

    def load_feature_flags(self) -> None:
        """Fetch flag definitions now (and keep polling them); needs ``personal_api_key``."""
        if self.disabled:
            return
        self._flags.load_now()

    def wait_for_flags(self, timeout: float = 10.0) -> bool:
        """Wait until flag definitions are loaded; True if they are."""
        if self.disabled:
            return self._flags.source.raw_flags() is not None
        return self._flags.source.wait_until_loaded(timeout)

    def feature_enabled(
        self,
        key: str,
        distinct_id: Any = None,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: Optional[bool] = None,
    ) -> Optional[bool]:
        """Whether the flag is on for this user (``None`` if it could not be determined)."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        value = self.get_feature_flag(
            key,
            distinct_id,
            groups=groups,
            person_properties=person_properties,
            group_properties=group_properties,
            only_evaluate_locally=only_evaluate_locally,
            send_feature_flag_events=send_feature_flag_events,
            disable_geoip=disable_geoip,
        )
        return None if value is None else bool(value)

    def get_feature_flag(
        self,
        key: str,
        distinct_id: Any = None,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: Optional[bool] = None,
    ) -> Optional[FlagValue]:
        """The flag's value: ``True``/``False``, a variant key, or ``None`` if undetermined."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        if (
            type(key) is not str
            or (type(distinct_id) is not str and type(distinct_id) is not int)
            or (groups is not None and type(groups) is not dict)
        ):
            check_flag_call(key, distinct_id, groups)  # the usual call skips it
        flags = self._flags
        # self.disabled, inlined (POSTHOG_DISABLED read only when it may be set)
        if flags.settings.disabled or ((ENV_DATA is None or ENV_KEY in ENV_DATA) and self.disabled):
            return None
        if groups is None:
            groups = NO_GROUPS
        if not flags.inline_local:
            return flags.get_feature_flag(
                key,
                distinct_id,
                groups,
                person_properties,
                group_properties,
                only_evaluate_locally,
                send_feature_flag_events,
                disable_geoip,
            )
        # the local answer of flags.get_feature_flag, inlined (the hottest call of the SDK)
        source = flags.source
        snapshot = source.snapshot
        if snapshot is None or (source.poller_pid != _pid.PID and source.poller is not None):
            snapshot = source.current()  # the first load, or a forked child's poller to start
        flag = None if snapshot is None else snapshot.flag_table.get(key)
        value: Optional[FlagValue] = None
        if flag is not None:
            value = (flag.single or single_of(flag, snapshot))(  # type: ignore[arg-type]
                distinct_id, groups, person_properties, group_properties
            )
        if not send_feature_flag_events and (value is not None or only_evaluate_locally):
            return value
        return flags.finish_flag(
            key,
            distinct_id,
            value,
            groups,
            person_properties,
            group_properties,
            only_evaluate_locally,
            send_feature_flag_events,
            disable_geoip,
        )

    def get_feature_flag_payload(
        self,
        key: str,
        distinct_id: Any = None,
        *,
        match_value: Optional[FlagValue] = None,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: Optional[bool] = None,
    ) -> Any:
        """The flag's payload for this user, as stored by PostHog (a JSON string), or ``None``."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        if self.disabled:
            return None
        require_str("key", key)
        require_id("distinct_id", distinct_id)
        if groups is not None:
            require_mapping("groups", groups)
        return self._flags.get_feature_flag_payload(
            key,
            distinct_id,
            match_value=match_value,
            groups=groups or NO_GROUPS,
            person_properties=person_properties,
            group_properties=group_properties,
            only_evaluate_locally=only_evaluate_locally,
            send_feature_flag_events=send_feature_flag_events,
            disable_geoip=disable_geoip,
        )

    def get_feature_flag_result(
        self,
        key: str,
        distinct_id: Any = None,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: Optional[bool] = None,
        device_id: Optional[str] = None,
    ) -> Optional[FeatureFlagResult]:
        """The flag's value, variant, payload (decoded from JSON) and reason for this user, from
        one evaluation (upstream 7.x's result API); ``None`` when undetermined or unknown."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        check_flag_call(key, distinct_id, groups)
        if self.disabled:
            return None
        return self._flags.get_feature_flag_result(
            key,
            distinct_id,
            groups=groups or NO_GROUPS,
            person_properties=person_properties,
            group_properties=group_properties,
            only_evaluate_locally=only_evaluate_locally,
            send_feature_flag_events=send_feature_flag_events,
            disable_geoip=disable_geoip,
            device_id=device_id,
        )

    def get_all_flags(
        self,
        distinct_id: Any = None,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        disable_geoip: Optional[bool] = None,
    ) -> Optional[dict[str, FlagValue]]:
        """Every flag's value for this user (``None`` when disabled)."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        result = self._all_flags(
            distinct_id, groups, person_properties, group_properties, only_evaluate_locally, disable_geoip
        )
        return result["featureFlags"]

    def get_all_flags_and_payloads(
        self,
        distinct_id: Any = None,
        *,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        only_evaluate_locally: bool = False,
        disable_geoip: Optional[bool] = None,
    ) -> FlagsAndPayloads:
        """Every flag's value and payload: ``{"featureFlags": ..., "featureFlagPayloads": ...}``."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        return self._all_flags(
            distinct_id, groups, person_properties, group_properties, only_evaluate_locally, disable_geoip
        )

    def _all_flags(
        self,
        distinct_id: Any,
        groups: Optional[Mapping[str, Any]],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_evaluate_locally: bool,
        disable_geoip: Optional[bool],
    ) -> FlagsAndPayloads:
        flags = self._flags
        # self.disabled, inlined as in get_feature_flag
        if flags.settings.disabled or ((ENV_DATA is None or ENV_KEY in ENV_DATA) and self.disabled):
            return {"featureFlags": None, "featureFlagPayloads": None}
        if type(distinct_id) is not str and type(distinct_id) is not int:
            require_id("distinct_id", distinct_id)
        if groups is not None and type(groups) is not dict:
            require_mapping("groups", groups)
        return flags.get_all_flags_and_payloads(
            distinct_id,
            groups=groups or NO_GROUPS,
            person_properties=person_properties,
            group_properties=group_properties,
            only_evaluate_locally=only_evaluate_locally,
            disable_geoip=disable_geoip,
        )

    def get_remote_config_payload(self, key: str) -> Any:
        """A remote-config flag's payload (needs ``personal_api_key``); ``None`` on any error."""
        if self.disabled:
            return None
        return self._flags.get_remote_config_payload(key)

    def get_flags_decision(
        self,
        distinct_id: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        disable_geoip: Optional[bool] = None,
    ) -> Any:
        """Ask the server for every flag (raises on errors, as 3.x); nothing when disabled."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        require_id("distinct_id", distinct_id)
        if groups:
            require_mapping("groups", groups)
        if self.disabled:
            return normalize_flags_response({})
        return self._flags.remote_decision(
            distinct_id, groups, person_properties, group_properties, disable_geoip
        )

    def get_feature_variants(
        self,
        distinct_id: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        disable_geoip: Optional[bool] = None,
    ) -> dict[str, FlagValue]:
        """Remote: every flag's value."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        decision = self.get_flags_decision(
            distinct_id, groups, person_properties, group_properties, disable_geoip
        )
        return to_values(decision) or {}

    def get_feature_payloads(
        self,
        distinct_id: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        disable_geoip: Optional[bool] = None,
    ) -> dict[str, Any]:
        """Remote: payloads of enabled flags that have one."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        decision = self.get_flags_decision(
            distinct_id, groups, person_properties, group_properties, disable_geoip
        )
        return to_payloads(decision) or {}

    def get_feature_flags_and_payloads(
        self,
        distinct_id: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        person_properties: Optional[Mapping[str, Any]] = None,
        group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
        disable_geoip: Optional[bool] = None,
    ) -> FlagsAndPayloads:
        """Remote: values and payloads, from one request."""
        if distinct_id is None:
            distinct_id = _context_id(None)
        decision = self.get_flags_decision(
            distinct_id, groups, person_properties, group_properties, disable_geoip
        )
        return to_flags_and_payloads(decision)
