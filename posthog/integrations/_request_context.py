"""What the web integrations agree on: tracing headers, request properties, the client address.

- ``$current_url`` never has the query string (queries carry credentials and tokens).
- ``$ip`` is the peer address. ``X-Forwarded-For`` is read only when ``trusted_proxies`` says
  which peers are proxies of yours: then it is the last address added by a party you do not trust
  (every hop before it could be written by the client itself).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any, Final, Optional, Union

from .. import contexts

__all__ = [
    "MAX_HEADER_VALUE",
    "TrustedProxies",
    "capture_unhandled",
    "clean_header",
    "client_ip",
    "request_properties",
]

log = logging.getLogger("posthog")

DISTINCT_ID_HEADER: Final = "x-posthog-distinct-id"
SESSION_ID_HEADER: Final = "x-posthog-session-id"
#: Tracing header values longer than this are cut (their control characters are removed first).
MAX_HEADER_VALUE: Final = 1000

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
TrustedProxies = Optional[Iterable[str]]


def clean_header(value: Optional[str]) -> Optional[str]:
    """A tracing header's value without control characters, at most 1000 characters; None if empty."""
    if not value:
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip()[:MAX_HEADER_VALUE]
    return text or None


def _networks(trusted: TrustedProxies) -> list[Network]:
    networks: list[Network] = []
    for item in trusted or ():
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            continue
    return networks


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(
    peer: Optional[str], forwarded_for: Optional[str], trusted_proxies: TrustedProxies
) -> Optional[str]:
    """The client's address: the peer, or, behind trusted proxies, the last untrusted hop."""
    networks = _networks(trusted_proxies)
    if not networks or not forwarded_for or peer is None or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def request_properties(
    *,
    scheme: str,
    host: Optional[str],
    path: str,
    method: str,
    ip: Optional[str],
    user_agent: Optional[str],
    route: Optional[str] = None,
) -> dict[str, Any]:
    """The properties every event of a request carries (tags of its context)."""
    props: dict[str, Any] = {
        "$current_url": f"{scheme}://{host}{path}" if host else path,
        "$request_method": method,
        "$request_path": path,
    }
    if ip:
        props["$ip"] = ip
    if user_agent:
        props["$user_agent"] = user_agent
        props["$raw_user_agent"] = user_agent
    if route:
        props["$request_route"] = route
    return props


def capture_unhandled(client: Optional[contexts.ClientBase], exc: BaseException) -> None:
    """Capture a request's unhandled exception once (inside its context), whatever happens."""
    try:
        if not isinstance(exc, Exception) or getattr(exc, contexts._MARK, False):
            return
        client = client if client is not None else contexts.default_client_lookup()
        if client is not None:
            client.capture_exception(exc)
            setattr(exc, contexts._MARK, True)
    except Exception:  # never replace the application's error with ours
        log.debug("could not capture a request's exception", exc_info=True)
