"""Remote flag evaluation: the ``/flags/?v=2`` request, one quick retry, and its normalised answer."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple, Optional

from .._http.retry import is_network_error
from ..contexts import current as current_context
from ..exceptions import APIError
from ..request import Transport
from ..types import FeatureFlag, FeatureFlagResult, FlagsResponse, FlagValue, normalize_flags_response

__all__ = [
    "NO_ANSWER",
    "RETRY_PAUSE",
    "RemoteFlag",
    "build_flags_body",
    "fetch_flags",
    "flag_answer",
    "merge_answer",
    "retry_budget",
]

RETRY_PAUSE: Final = 0.1


def build_flags_body(
    distinct_id: Any,
    groups: Optional[Mapping[str, Any]],
    person_properties: Optional[Mapping[str, Any]],
    group_properties: Optional[Mapping[str, Any]],
    disable_geoip: bool,
    flag_keys: Optional[Sequence[str]] = None,
) -> dict[str, Any]:
    """The request body (the token and ``sentAt`` are added by the transport)."""
    body: dict[str, Any] = {
        "distinct_id": distinct_id,
        "groups": dict(groups) if groups else {},
        "person_properties": person_properties,
        "group_properties": group_properties,
        # 3.x sent `disable_geoip`; the server reads `geoip_disable`: send both.
        "disable_geoip": disable_geoip,
        "geoip_disable": disable_geoip,
    }
    if flag_keys is not None:
        body["flag_keys_to_evaluate"] = list(flag_keys)
    context = current_context()
    if context is not None and context.device_id is not None:
        body["device_id"] = context.device_id  # a request context's device (set_context_device_id)
    return body


def retry_budget(exc: Exception, deadline: float) -> Optional[float]:
    """After a failed flags request: the timeout left for one quick retry (on a network error,
    502 or 504, when enough time is left), or None."""
    worth = exc.status in (502, 504) if isinstance(exc, APIError) else is_network_error(exc)
    remaining = deadline - time.monotonic() - RETRY_PAUSE
    return remaining if worth and remaining >= 0.05 else None


def fetch_flags(transport: Transport, api_key: str, body: Mapping[str, Any], timeout: float) -> FlagsResponse:
    """Ask the server; one quick retry on a transport error or 502/504 within ``timeout``."""
    deadline = time.monotonic() + timeout
    try:
        return normalize_flags_response(transport.post_flags(api_key, body, timeout=timeout))
    except Exception as exc:
        remaining = retry_budget(exc, deadline)
        if remaining is None:
            raise
    time.sleep(RETRY_PAUSE)
    return normalize_flags_response(transport.post_flags(api_key, body, timeout=remaining))


class RemoteFlag(NamedTuple):
    """The server's answer for one flag: its value (None: unknown), the flag, the request id."""

    value: Optional[FlagValue]
    flag: Optional[FeatureFlag]
    request_id: Optional[str]


#: No answer from the server (not asked, or it failed).
NO_ANSWER: Final = RemoteFlag(None, None, None)


def flag_answer(key: str, response: FlagsResponse) -> RemoteFlag:
    """Read one flag out of a ``/flags`` answer."""
    remote_flag = response["flags"].get(key)
    request_id = response.get("requestId")
    if remote_flag is not None:
        return RemoteFlag(remote_flag.get_value(), remote_flag, request_id)
    # Absent from a good answer means off; absent because the server failed means unknown.
    return RemoteFlag(None if response.get("errorsWhileComputingFlags") else False, None, request_id)


def listed_only(answer: RemoteFlag) -> RemoteFlag:
    """``answer`` where a flag the server did not list is unknown (the result API's rule: a
    flag that does not exist is not "off"), not off (3.x's ``get_feature_flag``)."""
    if answer.flag is None and answer.value is not None:
        return RemoteFlag(None, None, answer.request_id)
    return answer


def flag_result(
    key: str, local: tuple[Optional[FlagValue], Any, bool], answer: RemoteFlag, payload: Any
) -> Optional[FeatureFlagResult]:
    """The :class:`FeatureFlagResult` of a flag call: decided locally (no reason), or by the
    server (its reason), or ``None``."""
    value = answer.value if answer.value is not None else local[0]
    flag = answer.flag
    reason = flag.reason.description if flag is not None and flag.reason is not None else None
    return FeatureFlagResult.from_value_and_payload(key, value, payload, reason)


def merge_answer(values: dict[str, FlagValue], payloads: dict[str, Any], response: FlagsResponse) -> None:
    """Lay the server's values and payloads over the locally decided ones."""
    for key, remote_flag in response["flags"].items():
        values[key] = remote_flag.get_value()
        payloads.pop(key, None)
        if remote_flag.enabled and remote_flag.metadata.payload:
            payloads[key] = remote_flag.metadata.payload
