"""Sentry integration: send each Sentry error to PostHog and tag it with a link to the person.

    import sentry_sdk
    from posthog.sentry.posthog_integration import PostHogIntegration

    PostHogIntegration.organization = "my-org"   # optional: adds $sentry_url
    sentry_sdk.init(dsn=..., integrations=[PostHogIntegration()])

For error-level Sentry events carrying the tag ``posthog_distinct_id`` (see
``posthog.sentry.django`` or ``sentry_sdk.set_tag``), a ``$exception`` event
is captured in PostHog and the Sentry event gets a ``PostHog URL`` tag.

Differences from posthog 3.x (``spec/weaknesses.md`` §D 46): the tag points at
the PostHog *UI* (``us.i.posthog.com`` → ``us.posthog.com``) and includes the
project; the event goes through ``posthog.default_client`` when one is set;
an error event without exception data is still forwarded instead of failing;
only public sentry-sdk APIs are used (1.x and 2.x).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Mapping
from typing import Any, Final, Optional
from urllib.parse import quote, urlsplit, urlunsplit

from .._package import facade
from . import POSTHOG_ID_TAG

try:
    import sentry_sdk
    from sentry_sdk.integrations import Integration
    from sentry_sdk.scope import add_global_event_processor  # public in sentry-sdk 1.x and 2.x
except ImportError as e:  # the optional dependency is missing
    raise ImportError("sentry-sdk not installed; pip install 'posthog[sentry]'") from e


__all__ = ["PostHogIntegration", "build_posthog_exception"]

log = logging.getLogger("posthog")

POSTHOG_URL_TAG: Final = "PostHog URL"
DEFAULT_POSTHOG_HOST: Final = "https://us.i.posthog.com"
# Ingestion hosts and the UI a person opens for them.
_UI_HOSTS: Final = {"us.i.posthog.com": "us.posthog.com", "eu.i.posthog.com": "eu.posthog.com"}

# Capturing in PostHog can log; Sentry's logging integration can turn that log into a new
# event; this guard stops that event from being forwarded again.
_in_processor: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "posthog_sentry_processor", default=False
)

_registration_lock = threading.Lock()
_processor_registered = False

SentryLink = tuple[str, dict[str, Any], str]


class PostHogIntegration(Integration):
    """Forward error events to PostHog; configure through the class attributes."""

    identifier = "posthog-python"
    organization: Optional[str] = None  # Sentry organisation slug; enables $sentry_url
    project_id: Optional[str] = None  # Sentry project id; default: taken from the DSN
    prefix = "https://sentry.io/organizations/"  # Sentry UI base, for self-hosted Sentry

    @staticmethod
    def setup_once() -> None:
        """Register the event processor (Sentry calls this once per process; repeats are no-ops)."""
        global _processor_registered
        with _registration_lock:
            if not _processor_registered:
                add_global_event_processor(_process_event)
                _processor_registered = True


def posthog_ui_host(host: str | None) -> str:
    """The PostHog UI base URL for an SDK ``host`` setting, without a trailing slash."""
    raw = (host or DEFAULT_POSTHOG_HOST).strip().rstrip("/")
    parts = urlsplit(raw)
    ui_netloc = _UI_HOSTS.get(parts.netloc.lower())
    if ui_netloc is None:
        return raw
    return urlunsplit((parts.scheme, ui_netloc, parts.path, parts.query, parts.fragment)).rstrip("/")


def _tag(event: Mapping[str, Any], name: str) -> Any:
    tags = event.get("tags")
    if isinstance(tags, Mapping):
        return tags.get(name)
    if isinstance(tags, (list, tuple)):  # the wire format also allows [[key, value], ...]
        for pair in tags:
            if isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] == name:
                return pair[1]
    return None


def build_posthog_exception(
    event: Any,
    *,
    organization: str | None,
    project_id: str | int | None,
    prefix: str,
    posthog_ui_host: str,
    api_key: str | None = None,
) -> SentryLink | None:
    """Turn a Sentry event into ``(distinct_id, $exception properties, PostHog person URL)``.

    ``None`` for anything that is not an error-level event tagged with
    ``posthog_distinct_id``. Never raises.
    """
    try:
        if not isinstance(event, Mapping) or event.get("level") != "error":
            return None
        distinct_id = _tag(event, POSTHOG_ID_TAG)
        if not distinct_id:
            return None
        distinct_id = str(distinct_id)
        event_id = event.get("event_id")
        properties: dict[str, Any] = {"$sentry_event_id": event_id}
        if "exception" in event:
            properties["$sentry_exception"] = event["exception"]
        if organization and project_id:
            properties["$sentry_url"] = (
                f"{prefix}{organization}/issues/?project={project_id}&query={event_id}"
            )
        base = posthog_ui_host.rstrip("/")
        if api_key:
            base = f"{base}/project/{quote(str(api_key), safe='')}"
        url = f"{base}/person/{quote(distinct_id, safe='@:')}"
        return distinct_id, properties, url
    except Exception:  # boundary: runs inside Sentry's event pipeline
        log.debug("could not build a PostHog event from a Sentry event", exc_info=True)
        return None


def _sentry_client() -> Any:
    get_client = getattr(sentry_sdk, "get_client", None)
    if get_client is not None:
        return get_client()
    legacy: Any = sentry_sdk  # sentry-sdk 1.x: Hub is gone from the stubs of 3.x
    return legacy.Hub.current.client


def _active_integration(client: Any) -> Any:
    if client is None:
        return None
    get_integration = getattr(client, "get_integration", None)
    if callable(get_integration):
        return get_integration(PostHogIntegration)
    integrations = getattr(client, "integrations", None) or {}
    return integrations.get(PostHogIntegration.identifier)


def _dsn_project_id(client: Any) -> str | None:
    dsn = getattr(client, "dsn", None)
    if not isinstance(dsn, str):
        options = getattr(client, "options", None)
        dsn = options.get("dsn") if isinstance(options, Mapping) else None
    if not isinstance(dsn, str) or not dsn:
        return None
    # https://<key>@<host>/<optional path>/<project id>
    last = urlsplit(dsn).path.rstrip("/").rsplit("/", 1)[-1]
    return last or None


def _posthog_target() -> tuple[Any, str | None, str | None]:
    """The client to capture with (None = facade), its host and its project key."""
    posthog = facade()
    client = posthog.default_client
    if client is not None:
        host = getattr(client, "raw_host", None) or getattr(client, "host", None)
        return client, host, getattr(client, "api_key", None)
    api_key = getattr(posthog, "project_api_key", None) or getattr(posthog, "api_key", None)
    return None, getattr(posthog, "host", None), api_key


def _process_event(event: Any, hint: Any) -> Any:
    if _in_processor.get():
        return event
    token = _in_processor.set(True)
    try:
        sentry_client = _sentry_client()
        integration = _active_integration(sentry_client)
        if integration is None:
            return event
        client, host, api_key = _posthog_target()
        link = build_posthog_exception(
            event,
            organization=integration.organization,
            project_id=integration.project_id or _dsn_project_id(sentry_client),
            prefix=integration.prefix,
            posthog_ui_host=posthog_ui_host(host),
            api_key=api_key,
        )
        if link is None:
            return event
        distinct_id, properties, url = link
        tags = event.setdefault("tags", {})
        if isinstance(tags, dict):
            tags[POSTHOG_URL_TAG] = url
        elif isinstance(tags, list):
            tags.append([POSTHOG_URL_TAG, url])
        if client is not None:
            client.capture(distinct_id, "$exception", properties)
        else:
            facade().capture(distinct_id, "$exception", properties)
    except Exception:  # boundary: never break or drop the Sentry event
        log.debug("could not forward a Sentry event to PostHog", exc_info=True)
    finally:
        _in_processor.reset(token)
    return event
