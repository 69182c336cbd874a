"""The HTTP library under :class:`~posthog.AsyncPosthog`: aiohttp when installed, else httpx.

Chosen by measurement (50 concurrent ``/flags`` lookups answering in 50 ms): aiohttp costs about
a quarter of httpx's CPU per request; httpx's connection pool rescans every connection for every
queued request, so its cost grows with concurrency. Both sit behind one small interface,
:class:`Session`, which returns a fully read :class:`Answer`.

Nothing slow happens on the event loop: the library's import and the TLS context are prepared
once per process on a short-lived thread (:func:`prepare`); a session (one per event loop) is
cheap to make from them.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import os
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Optional, Protocol

from .preload import start_preload
from .protocol import USER_AGENT

__all__ = ["Answer", "Prepared", "Session", "backend", "new_session", "prepare", "require_backend"]

#: Connections kept per event loop and host: enough for the lookups a busy app has in flight,
#: reused (keep-alive) rather than opened per request.
CONNECTIONS_PER_HOST: Final = 64


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read in full."""

    status_code: int
    reason_phrase: str
    headers: Mapping[str, str]  # case-insensitive in both libraries
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Session(Protocol):
    """One event loop's connections."""

    @property
    def closed(self) -> bool: ...

    async def request(
        self, method: str, url: str, *, content: Optional[bytes], headers: Mapping[str, str], timeout: float
    ) -> Answer: ...

    async def aclose(self) -> None: ...


def backend() -> str:
    """``"aiohttp"`` when it is installed, else ``"httpx"`` (without importing either)."""
    return "aiohttp" if importlib.util.find_spec("aiohttp") is not None else "httpx"


def require_backend() -> None:
    """Raise ImportError naming the extra when neither library is installed."""
    if importlib.util.find_spec("aiohttp") is None and importlib.util.find_spec("httpx") is None:
        raise ImportError(
            "AsyncPosthog needs aiohttp (or httpx), which the 'async' extra installs: "
            "pip install 'posthog[async]'"
        )


@dataclass(frozen=True)
class Prepared:
    """What a session is made from: the library (imported) and the process's TLS context."""

    backend: str
    tls: Optional[ssl.SSLContext]


_lock = threading.Lock()
_prepared: Optional[concurrent.futures.Future[Prepared]] = None
_prepared_pid = 0


def prepare() -> concurrent.futures.Future[Prepared]:
    """The process's :class:`Prepared`, built once (per process: a forked child builds its own)."""
    global _prepared, _prepared_pid
    with _lock:
        if _prepared is None or _prepared_pid != os.getpid():
            _prepared, _prepared_pid = concurrent.futures.Future(), os.getpid()
            start_preload(_build, _prepared)
        return _prepared


def _tls_context() -> Optional[ssl.SSLContext]:
    try:
        import certifi  # requests' CA bundle: the same trust as the blocking client

        return ssl.create_default_context(cafile=certifi.where())
    except Exception:  # no certifi: the system's store
        try:
            return ssl.create_default_context()
        except Exception:
            return None


def _build(done: concurrent.futures.Future[Prepared]) -> None:
    name = backend()
    try:
        if name == "aiohttp":
            import aiohttp  # noqa: F401
        else:
            import httpx

            httpx.AsyncHTTPTransport()  # imports httpcore and anyio's backend too
    except Exception:  # the first request imports it, as it would have
        pass
    done.set_result(Prepared(name, _tls_context()))


def new_session(prepared: Prepared, base_url: str) -> Session:
    """A session for the running event loop, to talk to ``base_url``."""
    if prepared.backend == "aiohttp":
        return _AiohttpSession(prepared.tls, _env_proxy(base_url))
    return _HttpxSession(prepared.tls)


def _env_proxy(base_url: str) -> Optional[str]:
    """The proxy ``HTTP_PROXY`` / ``HTTPS_PROXY`` name for ``base_url`` unless ``NO_PROXY``
    exempts its host, as requests and httpx read them (read here once per session: aiohttp's own
    ``trust_env`` looks them and ``.netrc`` up on the loop's executor, for every request)."""
    try:
        parts = urllib.parse.urlsplit(base_url)
        if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
            return None
        return urllib.request.getproxies().get(parts.scheme)
    except Exception:  # an odd environment: no proxy, as before
        return None


class _AiohttpSession:
    def __init__(self, tls: Optional[ssl.SSLContext], proxy: Optional[str]) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._proxy = proxy
        connector = aiohttp.TCPConnector(
            ssl=tls if tls is not None else True, limit=0, limit_per_host=CONNECTIONS_PER_HOST
        )
        self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})

    @property
    def closed(self) -> bool:
        return bool(self._session.closed)

    async def request(
        self, method: str, url: str, *, content: Optional[bytes], headers: Mapping[str, str], timeout: float
    ) -> Answer:
        bound = self._aiohttp.ClientTimeout(total=timeout)
        async with self._session.request(
            method,
            url,
            data=content,
            headers=dict(headers),
            timeout=bound,
            allow_redirects=False,
            proxy=self._proxy,
        ) as response:
            body = await response.read()
            return Answer(response.status, response.reason or "", response.headers, body)

    async def aclose(self) -> None:
        await self._session.close()

    def __del__(self) -> None:
        # The loop ended without AsyncPosthog.shutdown(): close the sockets quietly, where aiohttp
        # would report an "Unclosed client session" through the loop's exception handler.
        try:
            connector = self._session.connector
            if connector is not None and not connector.closed:
                connector._close()  # synchronous; public close() returns an awaitable
        except Exception:
            pass


class _HttpxSession:
    def __init__(self, tls: Optional[ssl.SSLContext]) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT},
            verify=tls if tls is not None else True,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=CONNECTIONS_PER_HOST),
        )

    @property
    def closed(self) -> bool:
        return bool(self._client.is_closed)

    async def request(
        self, method: str, url: str, *, content: Optional[bytes], headers: Mapping[str, str], timeout: float
    ) -> Answer:
        response = await self._client.request(method, url, content=content, headers=headers, timeout=timeout)
        return Answer(response.status_code, response.reason_phrase, response.headers, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()
