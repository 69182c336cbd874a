"""Remote flag evaluation: the ``/flags/?v=2`` request, one quick retry, and its normalised answer."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Optional

from ..exceptions import APIError
from ..request import Transport
from ..types import FlagsResponse, normalize_flags_response

__all__ = ["build_flags_body", "fetch_flags"]

_RETRY_PAUSE: Final = 0.1


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
    return body


def _worth_retrying(exc: Exception) -> bool:
    if isinstance(exc, APIError):
        return exc.status in (502, 504)
    import requests

    return isinstance(exc, requests.exceptions.RequestException)


def fetch_flags(transport: Transport, api_key: str, body: Mapping[str, Any], timeout: float) -> FlagsResponse:
    """Ask the server; one quick retry on a transport error or 502/504 within ``timeout``."""
    deadline = time.monotonic() + timeout
    try:
        return normalize_flags_response(transport.post_flags(api_key, body, timeout=timeout))
    except Exception as exc:
        remaining = deadline - time.monotonic() - _RETRY_PAUSE
        if not _worth_retrying(exc) or remaining < 0.05:
            raise
    time.sleep(_RETRY_PAUSE)
    return normalize_flags_response(transport.post_flags(api_key, body, timeout=remaining))
