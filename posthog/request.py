"""HTTP to PostHog: one ``requests.Session`` per client per process, JSON and gzip, status → exceptions.

The 3.x names (``APIError``, ``DEFAULT_HOST``, ``batch_post``, ``determine_server_host`` ...) stay
importable from here.
"""

from __future__ import annotations

import gzip as _gzip
import json
import logging
import os
import threading
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final, Optional
from urllib.parse import quote

from ._http.capture_v1 import (
    CAPTURE_V1_PATH,
    CaptureCompression,
    V1Answer,
    V1Batch,
    answer_of,
    prepare_attempt,
)
from ._http.protocol import (
    AI_BATCH_PATH,
    FLAGS_PATH,
    USER_AGENT,
    api_error,
    batch_body,
    check_flags_answer,
    definitions_path,
    flags_request_body,
    json_body,
    now_iso,
    remote_config_path,
)
from ._serialize import clean
from .exceptions import APIError, QuotaLimitError

if TYPE_CHECKING:
    import requests

__all__ = [
    "DEFAULT_HOST",
    "EU_INGESTION_ENDPOINT",
    "USER_AGENT",
    "US_INGESTION_ENDPOINT",
    "APIError",
    "DatetimeSerializer",
    "QuotaLimitError",
    "Transport",
    "batch_post",
    "decide",
    "determine_server_host",
    "flags",
    "get",
    "post",
    "remote_config",
    "remove_trailing_slash",
]

log = logging.getLogger("posthog")

US_INGESTION_ENDPOINT: Final = "https://us.i.posthog.com"
EU_INGESTION_ENDPOINT: Final = "https://eu.i.posthog.com"
DEFAULT_HOST: Final = US_INGESTION_ENDPOINT

_HOST_ALIASES: Final = {
    "https://app.posthog.com": US_INGESTION_ENDPOINT,
    "https://us.posthog.com": US_INGESTION_ENDPOINT,
    "https://eu.posthog.com": EU_INGESTION_ENDPOINT,
}


def remove_trailing_slash(host: str) -> str:
    """``host`` without trailing slashes."""
    return host.rstrip("/")


def determine_server_host(host: Optional[str]) -> str:
    """Map PostHog's app hosts to their ingestion hosts (case-insensitive, any trailing slashes)."""
    chosen = (host or DEFAULT_HOST).strip()
    return _HOST_ALIASES.get(remove_trailing_slash(chosen).lower(), chosen)


class DatetimeSerializer(json.JSONEncoder):
    """3.x's encoder: dates and datetimes as ISO-8601 text."""

    def default(self, o: Any) -> Any:
        if isinstance(o, (date, datetime)):
            return o.isoformat()
        return super().default(o)


def _error_for(response: requests.Response) -> APIError:
    return api_error(
        response.status_code, response.reason, response.text, response.headers.get("Retry-After")
    )


def _new_session(host: str) -> requests.Session:
    """A keep-alive session whose environment settings (proxies, CA bundle) are read once.

    requests otherwise re-reads proxy variables and ~/.netrc on every request, which costs more
    than encoding a batch of 100 events.
    """
    import requests  # imported on first use: `import posthog` stays fast

    session = requests.Session()
    try:
        settings = session.merge_environment_settings(host, {}, None, None, None)
        session.proxies.update(settings.get("proxies") or {})
        verify = settings.get("verify")
        if verify is not None:
            session.verify = verify
        session.trust_env = False
    except Exception:  # unusual environments: keep requests' own per-request behaviour
        session.trust_env = True
    return session


class Transport:
    """One client's HTTP: a keep-alive session per process, rebuilt after ``fork()``."""

    def __init__(self, host: str, timeout: float = 15) -> None:
        self.host = remove_trailing_slash(host)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._session: Optional[requests.Session] = None
        self._pid = -1

    @property
    def session(self) -> requests.Session:
        """The session of the current process (a forked child never reuses its parent's sockets)."""
        session = self._session
        if session is None or self._pid != os.getpid():
            with self._lock:
                if self._session is None or self._pid != os.getpid():
                    self._session = _new_session(self.host)
                    self._pid = os.getpid()
                session = self._session
        return session

    def close(self) -> None:
        """Close the current process's connections."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None and self._pid == os.getpid():
            session.close()

    def post(
        self, path: str, body: bytes, *, gzip: bool = False, timeout: Optional[float] = None
    ) -> requests.Response:
        """POST JSON bytes; non-200 answers raise :class:`APIError`."""
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if gzip:
            headers["Content-Encoding"] = "gzip"
            body = _gzip.compress(body, compresslevel=1)  # fast: this runs on the consumer thread
        response = self._send(path, body, headers, timeout)
        if response.status_code != 200:
            raise _error_for(response)
        return response

    def _send(
        self, path: str, body: bytes, headers: Mapping[str, str], timeout: Optional[float]
    ) -> requests.Response:
        """POST ``body`` as is, whatever the answer."""
        session = self.session
        import requests

        # Straight to the session's adapter: the request is fully specified here (no cookies,
        # hooks or per-request environment lookups), which halves requests' own CPU cost per
        # batch. Exceptions are still requests' exceptions.
        prepared = requests.PreparedRequest()
        prepared.prepare(method="POST", url=self.host + path, headers=dict(headers), data=body)
        response = session.get_adapter(prepared.url or "").send(
            prepared,
            timeout=self.timeout if timeout is None else timeout,
            verify=True if session.verify is None else session.verify,
            proxies=session.proxies,
            cert=session.cert,
        )
        response.content  # noqa: B018 - read the body so the connection is reused
        return response

    def get(
        self,
        path: str,
        *,
        bearer: Optional[str] = None,
        timeout: Optional[float] = None,
        etag: Optional[str] = None,
    ) -> requests.Response:
        """GET; answers other than 200 and 304 raise :class:`APIError`."""
        headers = {"User-Agent": USER_AGENT}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if etag:
            headers["If-None-Match"] = etag
        response = self.session.get(
            self.host + path, headers=headers, timeout=self.timeout if timeout is None else timeout
        )
        if response.status_code not in (200, 304):
            raise _error_for(response)
        return response

    def post_batch(
        self,
        api_key: str,
        array: bytes,
        *,
        gzip: bool = False,
        historical_migration: bool = False,
        timeout: Optional[float] = None,
        ai: bool = False,
    ) -> requests.Response:
        """POST an already-encoded JSON array of messages to ``/batch/`` in the 3.x body shape, or
        to the AI endpoint (``ai=True``, ``capture_ai``)."""
        body = batch_body(api_key, array, historical_migration, ai=ai)
        return self.post(AI_BATCH_PATH if ai else "/batch/", body, gzip=gzip, timeout=timeout)

    def post_v1(
        self,
        api_key: str,
        array: bytes,
        batch: V1Batch,
        *,
        compression: CaptureCompression = CaptureCompression.NONE,
        historical_migration: bool = False,
        timeout: Optional[float] = None,
    ) -> V1Answer:
        """POST queued messages (a JSON array) to capture v1 as one attempt of ``batch``.

        Returns the per-event answer of a 2xx; raises :class:`CaptureV1Error` otherwise.
        """
        body, headers = prepare_attempt(api_key, array, batch, historical_migration, compression)
        response = self._send(CAPTURE_V1_PATH, body, headers, timeout)
        return answer_of(
            response.status_code, response.content, response.text, response.headers.get("Retry-After"), batch
        )

    def post_flags(self, api_key: str, body: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
        """POST to ``/flags/?v=2``; return the JSON object, raising on errors and quota limits."""
        response = self.post(FLAGS_PATH, flags_request_body(api_key, body), timeout=timeout)
        return check_flags_answer(response.status_code, json_body(response))

    def get_flag_definitions(
        self, api_key: str, personal_api_key: str, *, timeout: float, etag: Optional[str] = None
    ) -> requests.Response:
        """GET the local-evaluation definitions (``304`` when ``etag`` still matches)."""
        return self.get(definitions_path(api_key), bearer=personal_api_key, timeout=timeout, etag=etag)

    def get_remote_config(self, api_key: str, personal_api_key: str, key: str, *, timeout: float) -> Any:
        """GET a remote-config flag's payload (decrypted by the server)."""
        path = remote_config_path(api_key, key)
        return json_body(self.get(path, bearer=personal_api_key, timeout=timeout))


# --- 3.x module-level helpers -------------------------------------------------------------
# Kept for code that imported them; each call uses a process-wide session.


def __getattr__(name: str) -> Any:
    # 3.x had a module-level `_session`; created on first access so `import posthog` does not
    # import requests.
    if name == "_session":
        import requests

        session = requests.Session()
        globals()["_session"] = session
        return session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_module_transports: dict[str, Transport] = {}


def _transport(host: Optional[str], timeout: float) -> Transport:
    base = remove_trailing_slash(determine_server_host(host))
    transport = _module_transports.get(base)
    if transport is None:
        transport = _module_transports.setdefault(base, Transport(base, timeout))
    return transport


def post(
    api_key: str,
    host: Optional[str] = None,
    path: Optional[str] = None,
    gzip: bool = False,
    timeout: float = 15,
    **kwargs: Any,
) -> requests.Response:
    """POST ``kwargs`` plus ``api_key`` and ``sentAt`` as JSON to ``host + path``."""
    body = dict(kwargs)
    body["sentAt"] = now_iso()
    body["api_key"] = api_key
    data = json.dumps(clean(body), allow_nan=False).encode("utf-8")
    return _transport(host, timeout).post(path or "/", data, gzip=gzip, timeout=timeout)


def get(api_key: str, url: str, host: Optional[str] = None, timeout: Optional[float] = None) -> Any:
    """GET ``host + url`` with ``api_key`` as a bearer token; return the parsed JSON."""
    response = _transport(host, timeout or 15).get(url, bearer=api_key, timeout=timeout)
    return json_body(response)


def batch_post(
    api_key: str, host: Optional[str] = None, gzip: bool = False, timeout: float = 15, **kwargs: Any
) -> requests.Response:
    """POST a ``batch`` of message dicts to ``/batch/``."""
    return post(api_key, host, "/batch/", gzip, timeout, **kwargs)


def flags(
    api_key: str, host: Optional[str] = None, gzip: bool = False, timeout: float = 15, **kwargs: Any
) -> Any:
    """POST to ``/flags/?v=2`` and return the parsed response."""
    return _transport(host, timeout).post_flags(api_key, kwargs, timeout=timeout)


def decide(
    api_key: str, host: Optional[str] = None, gzip: bool = False, timeout: float = 15, **kwargs: Any
) -> Any:
    """3.x name for the remote flag request; answered by ``/flags/?v=2``."""
    return flags(api_key, host, gzip, timeout, **kwargs)


def remote_config(
    personal_api_key: str, host: Optional[str] = None, key: str = "", timeout: float = 15
) -> Any:
    """GET a remote-config flag's payload."""
    path = f"/api/projects/@current/feature_flags/{quote(key, safe='')}/remote_config/"
    return json_body(_transport(host, timeout).get(path, bearer=personal_api_key, timeout=timeout))
