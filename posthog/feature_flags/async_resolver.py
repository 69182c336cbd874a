"""AsyncFlagResolver: the flag resolver of :class:`~posthog.AsyncPosthog`.

Local evaluation is the blocking resolver's, unchanged (plain CPU work, no I/O once definitions
are loaded); definitions come from an :class:`~.async_source.AsyncDefinitionSource`, and the
server is asked without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Optional

from .._http.async_transport import AsyncTransport
from ..request import Transport
from ..types import FeatureFlagResult, FlagsAndPayloads, FlagsResponse, FlagValue, normalize_flags_response
from .async_source import AsyncDefinitionSource
from .cache import PathLike
from .enrichment import flag_properties
from .evaluation import augment_properties
from .local import local_flag, local_flags, local_payload
from .remote import (
    NO_ANSWER,
    RETRY_PAUSE,
    RemoteFlag,
    flag_answer,
    flag_result,
    listed_only,
    merge_answer,
    retry_budget,
)
from .resolver import FlagResolver
from .settings import Emit, FlagSettings

__all__ = ["AsyncFlagResolver"]

log = logging.getLogger("posthog")


class AsyncFlagResolver(FlagResolver):
    """Answers flag questions for one async client without blocking its event loop."""

    source: AsyncDefinitionSource

    def __init__(
        self,
        settings: FlagSettings,
        transport: Transport,
        atransport: AsyncTransport,
        emit: Emit,
        **options: Any,
    ) -> None:
        self._atransport = atransport
        super().__init__(settings, transport, emit, **options)

    def _make_source(
        self, definitions: Any, cache_path: Optional[PathLike], cache_provider: Any
    ) -> AsyncDefinitionSource:
        return AsyncDefinitionSource(
            self.settings,
            self.transport,
            self._atransport,
            definitions=definitions,
            cache_path=cache_path,
            cache_provider=cache_provider,
        )

    # --- the server ------------------------------------------------------------------------
    async def fetch_flags(self, body: Mapping[str, Any]) -> FlagsResponse:
        """Ask ``/flags`` without blocking the loop; one quick retry within the flag timeout."""
        settings = self.settings
        timeout = settings.feature_flags_request_timeout_seconds
        deadline = time.monotonic() + timeout
        post = self._atransport.post_flags
        try:
            return normalize_flags_response(await post(settings.api_key, body, timeout=timeout))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            remaining = retry_budget(exc, deadline)
            if remaining is None:
                raise
        await asyncio.sleep(RETRY_PAUSE)
        return normalize_flags_response(await post(settings.api_key, body, timeout=remaining))

    async def _aremote_flag(self, key: str, body: Mapping[str, Any]) -> RemoteFlag:
        try:
            response = await self.fetch_flags(body)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # remote trouble means "unknown", never an exception
            log.warning("[FEATURE FLAGS] Unable to get flag %s remotely: %s", key, exc)
            return NO_ANSWER
        return flag_answer(key, response)

    # --- evaluation ------------------------------------------------------------------------
    async def aget_feature_flag(
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
        """One flag's value (the blocking resolver's ``get_feature_flag``, awaiting the server)."""
        snapshot = await self.source.acurrent()
        value = local_flag(snapshot, key, distinct_id, groups, person_properties, group_properties)
        answer = NO_ANSWER
        if value is None and self.may_ask(only_evaluate_locally):
            person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
            body = self.flags_body(distinct_id, groups, person, group, disable_geoip, [key])
            answer = await self._aremote_flag(key, body)
        if send_feature_flag_events:
            self.report_flag(key, distinct_id, value, answer, groups, disable_geoip)
        return answer.value if value is None else value

    async def aget_feature_flag_payload(
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
        snapshot = await self.source.acurrent()
        local = local_payload(snapshot, key, distinct_id, match_value, groups, person, group)
        answer = NO_ANSWER
        if not local[2] and self.may_ask(only_evaluate_locally):
            body = self.flags_body(distinct_id, groups, person, group, disable_geoip, [key])
            answer = await self._aremote_flag(key, body)
        return self.finish_payload(
            key, distinct_id, local, answer, groups, disable_geoip, send_feature_flag_events
        )

    async def aget_feature_flag_result(
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
        """The blocking resolver's ``get_feature_flag_result``, awaiting the server."""
        person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
        snapshot = await self.source.acurrent()
        local = local_payload(snapshot, key, distinct_id, None, groups, person, group)
        answer = NO_ANSWER
        if not local[2] and self.may_ask(only_evaluate_locally):
            body = self.flags_body(distinct_id, groups, person, group, disable_geoip, [key], device_id)
            answer = listed_only(await self._aremote_flag(key, body))
        payload = self.finish_payload(
            key, distinct_id, local, answer, groups, disable_geoip, send_feature_flag_events, decoded=True
        )
        return flag_result(key, local, answer, payload)

    async def aget_all_flags_and_payloads(
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
        values, payloads, keys = local_flags(await self.source.acurrent(), distinct_id, groups, person, group)
        if keys != [] and self.may_ask(only_evaluate_locally):
            try:
                body = self.flags_body(distinct_id, groups, person, group, disable_geoip, keys)
                merge_answer(values, payloads, await self.fetch_flags(body))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the local part
                log.warning("[FEATURE FLAGS] Unable to get flags remotely: %s", exc)
        return {"featureFlags": values, "featureFlagPayloads": payloads}

    def needs_remote_enrichment(self) -> bool:
        """Whether ``capture(send_feature_flags=True)`` has to ask the server for flags."""
        snapshot = self.source.snapshot
        return not self.source.local_only and (snapshot is None or not snapshot.flags)

    async def aenrichment(
        self, distinct_id: Any, groups: Optional[Mapping[str, Any]], disable_geoip: Optional[bool]
    ) -> dict[str, Any]:
        """``$feature/<key>`` and ``$active_feature_flags`` from the server, for a capture."""
        try:
            response = await self.fetch_flags(
                self.flags_body(distinct_id, groups or {}, None, None, disable_geoip)
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the capture goes on without flags
            log.warning("[FEATURE FLAGS] Unable to get feature variants: %s", exc)
            return {}
        return flag_properties({key: flag.get_value() for key, flag in response["flags"].items()})
