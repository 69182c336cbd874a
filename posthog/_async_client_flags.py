"""The flag methods of ``AsyncPosthog``: the 3.x signatures, awaited.

Each checks its arguments as the blocking client does and asks the client's
:class:`~posthog.feature_flags.async_resolver.AsyncFlagResolver`; local evaluation does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from ._client_flag_attributes import NO_GROUPS, FlagAttributes, check_flag_call
from ._context_events import _context_id
from .types import FeatureFlagResult, FlagsAndPayloads, FlagValue

if TYPE_CHECKING:
    from .feature_flags.async_resolver import AsyncFlagResolver

__all__ = ["AsyncFlagMethods"]


class AsyncFlagMethods(FlagAttributes):
    """Feature-flag coroutines of ``AsyncPosthog``."""

    _flags: AsyncFlagResolver

    async def load_feature_flags(self) -> None:
        """Fetch flag definitions now (and keep polling them); needs ``personal_api_key``."""
        if self.disabled:
            return
        await self._flags.source.aload_now()

    async def wait_for_flags(self, timeout: float = 10.0) -> bool:
        """Await flag definitions (polled in the background); True once they are loaded."""
        if self.disabled:
            return self._flags.source.raw_flags() is not None
        return await self._flags.source.wait_loaded(timeout)

    async def feature_enabled(
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
        value = await self.get_feature_flag(
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

    async def get_feature_flag(
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
        check_flag_call(key, distinct_id, groups)
        if self.disabled:
            return None
        return await self._flags.aget_feature_flag(
            key,
            distinct_id,
            groups or NO_GROUPS,
            person_properties,
            group_properties,
            only_evaluate_locally,
            send_feature_flag_events,
            disable_geoip,
        )

    async def get_feature_flag_payload(
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
        check_flag_call(key, distinct_id, groups)
        return await self._flags.aget_feature_flag_payload(
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

    async def get_feature_flag_result(
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
        return await self._flags.aget_feature_flag_result(
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

    async def get_all_flags(
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
        result = await self.get_all_flags_and_payloads(
            distinct_id,
            groups=groups,
            person_properties=person_properties,
            group_properties=group_properties,
            only_evaluate_locally=only_evaluate_locally,
            disable_geoip=disable_geoip,
        )
        return result["featureFlags"]

    async def get_all_flags_and_payloads(
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
        if self.disabled:
            return {"featureFlags": None, "featureFlagPayloads": None}
        check_flag_call("all", distinct_id, groups)
        return await self._flags.aget_all_flags_and_payloads(
            distinct_id,
            groups=groups or NO_GROUPS,
            person_properties=person_properties,
            group_properties=group_properties,
            only_evaluate_locally=only_evaluate_locally,
            disable_geoip=disable_geoip,
        )
