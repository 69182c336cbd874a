"""RecordingClient: the real ``Client`` that keeps each message as it would be sent, and sends nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, Final, Optional, Union

from .._client_base import weak_capture
from ..client import Client, Posthog
from ..feature_flags.resolver import FlagResolver
from ..types import FeatureFlag, FeatureFlagResult, FlagsAndPayloads, FlagsResponse, FlagValue, decode_payload
from ._flags import DefinitionsSource, FlagOverrides, load_definitions

__all__ = ["RecordingClient"]

#: Never contacted (nothing in a RecordingClient sends); should a request ever slip through,
#: it fails at once on the local discard port instead of reaching PostHog.
_NOWHERE: Final = "http://127.0.0.1:9"
_NO_DEFINITIONS: Final[Mapping[str, Any]] = {"flags": [], "group_type_mapping": {}, "cohorts": {}}
_REFUSED: Final = ("send", "personal_api_key", "flag_definitions_cache")

FlagsOption = Union[FlagOverrides, Mapping[str, FlagValue], None]


def _flag_properties(values: Mapping[str, FlagValue]) -> dict[str, Any]:
    props: dict[str, Any] = {f"$feature/{key}": value for key, value in values.items()}
    active = [key for key, value in values.items() if value is not False]
    if active:
        props["$active_feature_flags"] = active
    return props


class _RecordingFlags(FlagResolver):
    """The real resolver over offline definitions, with overrides consulted first; never remote."""

    def __init__(
        self, client: Client, overrides: FlagOverrides, definitions: Optional[Mapping[str, Any]]
    ) -> None:
        super().__init__(
            client._flag_settings,
            client._transport,
            weak_capture(client),
            definitions=definitions or _NO_DEFINITIONS,
        )
        self.overrides = overrides
        self.local_only = True
        self.inline_local = False  # get_feature_flag consults the overrides first

    def get_feature_flag(
        self,
        key: str,
        distinct_id: Any,
        groups: Mapping[str, Any],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_evaluate_locally: bool,
        send_feature_flag_events: bool,
        disable_geoip: Optional[bool],
    ) -> Optional[FlagValue]:
        override = self.overrides.lookup(distinct_id, key)
        if override is None:
            return super().get_feature_flag(
                key,
                distinct_id,
                groups,
                person_properties,
                group_properties,
                only_evaluate_locally,
                send_feature_flag_events,
                disable_geoip,
            )
        if send_feature_flag_events:
            self._report_called(key, distinct_id, override.value, True, groups, disable_geoip)
        return override.value

    def get_feature_flag_payload(  # noqa: PLR0913 - the FlagResolver signature it overrides
        self,
        key: str,
        distinct_id: Any,
        *,
        match_value: Optional[FlagValue],
        groups: Mapping[str, Any],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_evaluate_locally: bool,
        send_feature_flag_events: bool,
        disable_geoip: Optional[bool],
    ) -> Any:
        override = self.overrides.lookup(distinct_id, key)
        if override is None:
            return super().get_feature_flag_payload(
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
        # Asking for another value's payload: the override knows only its own.
        payload = override.payload if match_value in (None, override.value) else None
        if send_feature_flag_events:
            self._report_called(
                key, distinct_id, override.value, True, groups, disable_geoip, payload=payload
            )
        return payload

    def get_feature_flag_result(  # noqa: PLR0913 - the FlagResolver signature it overrides
        self,
        key: str,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_evaluate_locally: bool,
        send_feature_flag_events: bool,
        disable_geoip: Optional[bool],
        device_id: Optional[str] = None,
    ) -> Optional[FeatureFlagResult]:
        override = self.overrides.lookup(distinct_id, key)
        if override is None:
            return super().get_feature_flag_result(
                key,
                distinct_id,
                groups=groups,
                person_properties=person_properties,
                group_properties=group_properties,
                only_evaluate_locally=only_evaluate_locally,
                send_feature_flag_events=send_feature_flag_events,
                disable_geoip=disable_geoip,
            )
        payload = decode_payload(override.payload)
        if send_feature_flag_events:
            self._report_called(
                key, distinct_id, override.value, True, groups, disable_geoip, payload=payload
            )
        return FeatureFlagResult.from_value_and_payload(key, override.value, payload)

    def get_all_flags_and_payloads(
        self,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_evaluate_locally: bool,
        disable_geoip: Optional[bool],
    ) -> FlagsAndPayloads:
        result = super().get_all_flags_and_payloads(
            distinct_id,
            groups=groups,
            person_properties=person_properties,
            group_properties=group_properties,
            only_evaluate_locally=only_evaluate_locally,
            disable_geoip=disable_geoip,
        )
        values = dict(result["featureFlags"] or {})
        payloads = dict(result["featureFlagPayloads"] or {})
        for key, override in self.overrides.overrides_for(distinct_id).items():
            values[key] = override.value
            payloads.pop(key, None)
            if override.payload and override.value is not False:
                payloads[key] = override.payload
        return {"featureFlags": values, "featureFlagPayloads": payloads}

    def enrichment(
        self,
        distinct_id: Any,
        event: str,
        groups: Optional[Mapping[str, Any]],
        send_feature_flags: bool,
        disable_geoip: Optional[bool],
    ) -> dict[str, Any]:
        props = super().enrichment(distinct_id, event, groups, send_feature_flags, disable_geoip)
        # Overrides stand in for the server's answer, so they enrich a capture exactly when the
        # real client would: send_feature_flags=True, or definitions loaded for local evaluation.
        if not send_feature_flags and (not self.may_enrich or event == "$feature_flag_called"):
            return props
        overrides = self.overrides.overrides_for(distinct_id)
        if not overrides:
            return props
        values = {k[len("$feature/") :]: v for k, v in props.items() if k.startswith("$feature/")}
        values.update({key: override.value for key, override in overrides.items()})
        props.pop("$active_feature_flags", None)
        props.update(_flag_properties(values))
        return props

    def get_remote_config_payload(self, key: str) -> Any:
        # Remote config flags are not per user: the override for everyone gives the payload.
        override = self.overrides.default(key)
        return None if override is None else override.payload

    def remote_decision(
        self,
        distinct_id: Any,
        groups: Optional[Mapping[str, Any]],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Any]],
        disable_geoip: Optional[bool],
    ) -> FlagsResponse:
        # What the server would answer, computed from the overrides and the offline definitions.
        result = self.get_all_flags_and_payloads(
            distinct_id,
            groups=groups or {},
            person_properties=person_properties,
            group_properties=group_properties,
            only_evaluate_locally=True,
            disable_geoip=disable_geoip,
        )
        payloads = result["featureFlagPayloads"] or {}
        flags = {
            key: FeatureFlag.from_value_and_payload(key, value, payloads.get(key))
            for key, value in (result["featureFlags"] or {}).items()
        }
        return {"flags": flags, "errorsWhileComputingFlags": False, "requestId": None}

    def load_now(self) -> None:
        """Nothing to fetch: the definitions are the ones given."""


class RecordingClient(Posthog):
    """A ``Posthog`` client for tests: same API, no threads, no network; every accepted message is kept.

    It is a ``Posthog`` (and so a ``Client``): inject it wherever your code expects one.

    ``events`` holds each message as PostHog would receive it (uuid, timestamp, ``$lib``, cleaned
    properties), in call order. Flags come from ``flags`` (a :class:`FlagOverrides`, or a plain
    ``{"key": value}`` mapping) and/or ``flag_definitions`` (local_evaluation JSON, a dict or a
    path) evaluated offline; a flag nothing decides is ``None``. ``POSTHOG_DISABLED`` is ignored
    (nothing is sent anyway); ``disabled=True`` still makes every call a no-op.

    Other keyword arguments are the ``Client`` options (``super_properties``, ``disable_geoip``...).
    """

    def __init__(
        self,
        api_key: str = "phc_test",
        *,
        flags: FlagsOption = None,
        flag_definitions: Optional[DefinitionsSource] = None,
        **options: Any,
    ) -> None:
        refused = [name for name in _REFUSED if name in options]
        if refused:
            raise TypeError(
                f"RecordingClient never sends nor fetches; remove {', '.join(refused)} "
                "(use flags= or flag_definitions= for flags)"
            )
        options.setdefault("host", _NOWHERE)
        disabled = bool(options.get("disabled", False))
        super().__init__(api_key, send=False, **options)
        self.disabled = disabled
        self._recording_lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        if flag_definitions is not None and isinstance(flags, FlagOverrides) and flags.definitions:
            raise TypeError(
                "give flag definitions once: flags=FlagOverrides.from_definitions(...) or flag_definitions="
            )
        self._definitions = None if flag_definitions is None else load_definitions(flag_definitions)
        self.flags = flags

    @property
    def flags(self) -> FlagOverrides:
        """The flag answers in use; change them in place (``client.flags.flag("x", True)``) or assign."""
        return self._overrides

    @flags.setter
    def flags(self, flags: FlagsOption) -> None:
        if flags is None:
            overrides = FlagOverrides()
        elif isinstance(flags, FlagOverrides):
            overrides = flags
        else:
            overrides = FlagOverrides.from_mapping(flags)
        # Definitions inside the overrides win over the client's flag_definitions=.
        definitions = overrides.definitions if overrides.definitions is not None else self._definitions
        self._overrides = overrides
        self._flags = _RecordingFlags(self, overrides, definitions)

    @property
    def env_disabled(self) -> bool:
        """A recorder ignores ``POSTHOG_DISABLED``: it never sends anything anyway."""
        return False

    @property
    def events(self) -> list[dict[str, Any]]:
        """The messages recorded so far, oldest first (a new list on each read)."""
        with self._recording_lock:
            return list(self._events)

    def clear(self) -> None:
        """Forget every recorded message."""
        with self._recording_lock:
            self._events = []

    def _deliver(self, msg: dict[str, Any], text: str) -> bool:
        # Exactly the JSON the server would get: the text the client made for the wire.
        wire: dict[str, Any] = json.loads(text)
        with self._recording_lock:
            self._events.append(wire)
        return True

    def _deliver_ai(self, msg: dict[str, Any], text: str) -> bool:
        # capture_ai's events are recorded with the others, in call order.
        return self._deliver(msg, text)
