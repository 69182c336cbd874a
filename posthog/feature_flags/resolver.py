"""FlagResolver: local evaluation first, the server for what cannot be decided locally.

Given its settings, a transport and a way to emit ``$feature_flag_called``, it answers the
client's flag calls: definitions come from a :class:`~.source.DefinitionSource`, local answers
from :mod:`.local`, the server's from :mod:`.remote`. It knows nothing of the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Optional, Union

from ..request import Transport
from ..types import FeatureFlagResult, FlagsAndPayloads, FlagsResponse, FlagValue, decode_payload
from .cache import PathLike
from .called_events import CalledEvents
from .enrichment import EnrichmentCache, flag_properties
from .evaluation import augment_properties
from .fleet import SharedDefinitions
from .local import local_flags, local_payload
from .remote import (
    NO_ANSWER,
    RemoteFlag,
    build_flags_body,
    fetch_flags,
    flag_answer,
    flag_result,
    listed_only,
    merge_answer,
)
from .reports import CalledReports
from .settings import Emit, FlagSettings
from .single_code import single_of
from .source import DefinitionSource

__all__ = ["FlagResolver"]

log = logging.getLogger("posthog")


class FlagResolver(CalledReports):
    """Answers flag questions for one client."""

    def __init__(
        self,
        settings: FlagSettings,
        transport: Transport,
        emit: Emit,
        *,
        definitions: Union[Mapping[str, Any], PathLike, None] = None,
        cache_path: Optional[PathLike] = None,
        cache_provider: Any = None,
    ) -> None:
        self.settings = settings
        #: whether the client may compute :meth:`get_feature_flag`'s local answer itself, then
        #: call :meth:`finish_flag` (a subclass that answers differently sets it False)
        self.inline_local = True
        self.transport = transport
        self._emit = emit
        self.called_events = CalledEvents()
        self._enrichment = EnrichmentCache()
        self.source = self._make_source(definitions, cache_path, cache_provider)

    def _make_source(
        self, definitions: Any, cache_path: Optional[PathLike], cache_provider: Any
    ) -> DefinitionSource:
        return DefinitionSource(
            self.settings,
            self.transport,
            definitions=definitions,
            cache_path=cache_path,
            cache_provider=cache_provider,
        )

    # --- the source's state, as the client sees it ------------------------------------------
    @property
    def fleet(self) -> SharedDefinitions:
        """The fleet's shared definitions and the poll counters."""
        return self.source.fleet

    @property
    def poller(self) -> Any:
        """The definitions poller, once started."""
        return self.source.poller

    @property
    def local_only(self) -> bool:
        """Offline definitions without a personal key: flags never go to the network."""
        return self.source.local_only

    @local_only.setter
    def local_only(self, value: bool) -> None:
        self.source.local_only = value

    @property
    def may_enrich(self) -> bool:
        """Whether captures get ``$feature/...`` properties from local definitions."""
        return self.source.may_enrich

    def stop(self, wait: bool = True) -> None:
        """Stop polling (see :meth:`DefinitionSource.stop`)."""
        self.source.stop(wait)

    def load_now(self) -> None:
        """Fetch definitions now (3.x ``load_feature_flags``), then keep polling."""
        self.source.load_now()

    # --- the server -------------------------------------------------------------------------
    def flags_body(
        self,
        distinct_id: Any,
        groups: Mapping[str, Any],
        person: Optional[Mapping[str, Any]],
        group: Optional[Mapping[str, Any]],
        disable_geoip: Optional[bool],
        flag_keys: Optional[list[str]] = None,
        device_id: Optional[str] = None,
    ) -> dict[str, Any]:
        """The ``/flags`` request body for this context."""
        geoip = self.settings.disable_geoip if disable_geoip is None else disable_geoip
        body = build_flags_body(distinct_id, groups, person, group, bool(geoip), flag_keys)
        if device_id is not None:
            body["device_id"] = device_id
        return body

    def _fetch(self, body: Mapping[str, Any]) -> FlagsResponse:
        settings = self.settings
        return fetch_flags(
            self.transport, settings.api_key, body, settings.feature_flags_request_timeout_seconds
        )

    def _remote_flag(self, key: str, body: Mapping[str, Any]) -> RemoteFlag:
        """Ask the server for one flag; trouble means "unknown", never an exception."""
        try:
            response = self._fetch(body)
        except Exception as exc:
            log.warning("[FEATURE FLAGS] Unable to get flag %s remotely: %s", key, exc)
            return NO_ANSWER
        return flag_answer(key, response)

    def may_ask(self, only_evaluate_locally: bool) -> bool:
        """Whether a flag call may ask the server."""
        return not only_evaluate_locally and not self.source.local_only

    # --- the flag calls ---------------------------------------------------------------------
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
        """One flag's value; see the 3.x contract in flags.md §6."""
        snapshot = self.source.current()
        flag = None if snapshot is None else snapshot.flag_table.get(key)
        value: Optional[FlagValue] = None
        if flag is not None:
            single = flag.single or single_of(flag, snapshot)  # type: ignore[arg-type]
            value = single(distinct_id, groups, person_properties, group_properties)
        return self.finish_flag(
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

    def finish_flag(
        self,
        key: str,
        distinct_id: Any,
        value: Optional[FlagValue],
        groups: Mapping[str, Any],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_evaluate_locally: bool,
        send_feature_flag_events: bool,
        disable_geoip: Optional[bool],
    ) -> Optional[FlagValue]:
        """:meth:`get_feature_flag` after the local answer ``value`` (None: undecided): the
        server when allowed, then ``$feature_flag_called``."""
        answer = NO_ANSWER
        if value is None and not only_evaluate_locally and not self.source.local_only:  # may_ask
            person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
            body = self.flags_body(distinct_id, groups, person, group, disable_geoip, [key])
            answer = self._remote_flag(key, body)
        if send_feature_flag_events:
            self.report_flag(key, distinct_id, value, answer, groups, disable_geoip)
        return answer.value if value is None else value

    def get_feature_flag_payload(
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
        """The payload of the flag's value for this user (as stored), or ``None``."""
        person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
        local = local_payload(self.source.current(), key, distinct_id, match_value, groups, person, group)
        answer = NO_ANSWER
        if not local[2] and self.may_ask(only_evaluate_locally):
            body = self.flags_body(distinct_id, groups, person, group, disable_geoip, [key])
            answer = self._remote_flag(key, body)
        return self.finish_payload(
            key, distinct_id, local, answer, groups, disable_geoip, send_feature_flag_events
        )

    def get_feature_flag_result(
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
        """The flag's value, payload and reason in one evaluation (one ``$feature_flag_called``)."""
        person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
        local = local_payload(self.source.current(), key, distinct_id, None, groups, person, group)
        answer = NO_ANSWER
        if not local[2] and self.may_ask(only_evaluate_locally):
            body = self.flags_body(distinct_id, groups, person, group, disable_geoip, [key], device_id)
            answer = listed_only(self._remote_flag(key, body))
        payload = self.finish_payload(
            key, distinct_id, local, answer, groups, disable_geoip, send_feature_flag_events, decoded=True
        )
        return flag_result(key, local, answer, payload)

    def finish_payload(
        self,
        key: str,
        distinct_id: Any,
        local: tuple[Optional[FlagValue], Any, bool],
        answer: RemoteFlag,
        groups: Mapping[str, Any],
        disable_geoip: Optional[bool],
        send_feature_flag_events: bool,
        decoded: bool = False,
    ) -> Any:
        """The payload after the server's answer (if asked), reporting the call (with the payload
        decoded from JSON when ``decoded``, as the result API reports it); ``local`` is what
        :func:`local_payload` returned."""
        value, payload, locally = local
        if answer.value is not None:
            value = answer.value
        if answer.flag is not None:
            payload = answer.flag.metadata.payload
        if send_feature_flag_events and value is not None:
            self._report_called(
                key,
                distinct_id,
                value,
                locally,
                groups,
                disable_geoip,
                remote_flag=answer.flag,
                request_id=answer.request_id,
                payload=decode_payload(payload) if decoded else payload,
            )
        return payload

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
        """Every flag; only what is undecided locally is asked of the server."""
        person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
        source = self.source
        snapshot = source.current()
        values, payloads, keys = local_flags(snapshot, distinct_id, groups, person, group)
        if keys != [] and not only_evaluate_locally and not source.local_only:  # may_ask
            try:
                body = self.flags_body(distinct_id, groups, person, group, disable_geoip, keys)
                merge_answer(values, payloads, self._fetch(body))
            except Exception as exc:  # keep the local part
                log.warning("[FEATURE FLAGS] Unable to get flags remotely: %s", exc)
        return {"featureFlags": values, "featureFlagPayloads": payloads}

    def get_remote_config_payload(self, key: str) -> Any:
        """A remote-config flag's payload, ``None`` on any error."""
        settings = self.settings
        if not settings.personal_api_key:
            log.warning(
                "[FEATURE FLAGS] You have to specify a personal_api_key to fetch remote config payloads."
            )
            return None
        try:
            return self.transport.get_remote_config(
                settings.api_key,
                settings.personal_api_key,
                key,
                timeout=settings.feature_flags_request_timeout_seconds,
            )
        except Exception as exc:  # logged, never raised (3.x)
            log.warning("[FEATURE FLAGS] Unable to get remote config payload %s: %s", key, exc)
            return None

    def remote_decision(
        self,
        distinct_id: Any,
        groups: Optional[Mapping[str, Any]],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Any]],
        disable_geoip: Optional[bool],
    ) -> FlagsResponse:
        """Ask the server for every flag; errors propagate (3.x client-only helpers)."""
        return self._fetch(
            self.flags_body(distinct_id, groups or {}, person_properties, group_properties, disable_geoip)
        )

    def enrichment(
        self,
        distinct_id: Any,
        event: str,
        groups: Optional[Mapping[str, Any]],
        send_feature_flags: bool,
        disable_geoip: Optional[bool],
    ) -> dict[str, Any]:
        """``$feature/<key>`` and ``$active_feature_flags`` for a capture (a new dict each time)."""
        snapshot = self.source.snapshot
        if snapshot is None or not snapshot.flags:
            if not send_feature_flags or self.source.local_only or self.settings.is_disabled():
                return {}
            try:
                response = self._fetch(self.flags_body(distinct_id, groups or {}, None, None, disable_geoip))
                values = {key: flag.get_value() for key, flag in response["flags"].items()}
            except Exception as exc:  # the capture goes on without flags
                log.warning("[FEATURE FLAGS] Unable to get feature variants: %s", exc)
                return {}
            return flag_properties(values)
        if event == "$feature_flag_called" and not send_feature_flags:
            return {}
        return self._enrichment.properties(snapshot, distinct_id, groups or {})
