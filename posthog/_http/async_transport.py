"""HTTP to PostHog for :class:`~posthog.AsyncPosthog`: one session per event loop (aiohttp, else
httpx: :mod:`posthog._http.async_http`).

The same paths, bodies and answer handling as the blocking transport (:mod:`posthog._http.protocol`).
Every request is bounded as a whole by its timeout, so a server that accepts and never answers
costs the caller at most the timeout.
"""

from __future__ import annotations

import asyncio
import gzip as _gzip
import os
import sys
import weakref
from collections.abc import Mapping
from typing import Any, Final, Optional

from .async_http import Answer, Session, new_session, prepare, require_backend
from .capture_v1 import (
    CAPTURE_V1_PATH,
    CaptureCompression,
    V1Answer,
    V1Batch,
    answer_of,
    prepare_attempt,
)
from .protocol import (
    AI_BATCH_PATH,
    BATCH_PATH,
    FLAGS_PATH,
    api_error,
    batch_body,
    check_flags_answer,
    definitions_path,
    flags_request_body,
    json_body,
    remote_config_path,
)

__all__ = ["AsyncTransport", "prepare", "require_backend"]

#: Bodies larger than this are compressed on a worker thread rather than on the event loop.
_GZIP_INLINE_BYTES: Final = 256 * 1024


async def _bounded(coro: Any, timeout: float) -> Any:
    """Await ``coro`` for at most ``timeout`` seconds; a timeout is the built-in ``TimeoutError``.

    Never swallows a cancellation of the awaiting task: ``asyncio.wait_for`` can before Python
    3.12, when the cancellation arrives as the awaited call ends, and a sender task that missed
    its cancellation kept ``asyncio.run`` from returning.
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(timeout):
            return await coro
    # Python 3.9 and 3.10: the call as a task of its own, waited for by asyncio.wait, which
    # raises the awaiting task's cancellation as it comes.
    call = asyncio.ensure_future(coro)
    try:
        await asyncio.wait({call}, timeout=timeout)
    except asyncio.CancelledError:
        if call.done() and not call.cancelled():
            call.exception()  # ended as we were cancelled: retrieved, so never logged as lost
        call.cancel()
        raise
    if call.done():
        return call.result()
    call.cancel()
    raise TimeoutError(f"no answer within {timeout:.2f}s")


class AsyncTransport:
    """One async client's HTTP: a session per running event loop, per process."""

    def __init__(self, host: str, timeout: float = 15) -> None:
        self.host = host.rstrip("/")
        self.timeout = timeout
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Session]
        self._sessions = weakref.WeakKeyDictionary()
        self._pid = os.getpid()

    async def _session(self) -> Session:
        if self._pid != os.getpid():  # a forked child never reuses its parent's connections
            self._sessions = weakref.WeakKeyDictionary()
            self._pid = os.getpid()
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            prepared = prepare()
            made = prepared.result() if prepared.done() else await asyncio.wrap_future(prepared)
            session = self._sessions.get(loop)  # another coroutine may have made it meanwhile
            if session is None or session.closed:
                session = new_session(made, self.host)
                self._sessions[loop] = session
        return session

    async def aclose(self) -> None:
        """Close the connections of the running loop's session."""
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        if session is not None and self._pid == os.getpid():
            await session.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        timeout: Optional[float],
        *,
        content: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Answer:
        """One request, whatever the answer."""
        limit = self.timeout if timeout is None else timeout
        session = await self._session()
        url = self.host + path
        call = session.request(method, url, content=content, headers=headers or {}, timeout=limit)
        answer: Answer = await _bounded(call, limit)
        return answer

    async def _send(
        self,
        method: str,
        path: str,
        timeout: Optional[float],
        *,
        content: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Answer:
        """One request; answers other than 200 (and 304 to a GET) raise :class:`APIError`."""
        response = await self._request(method, path, timeout, content=content, headers=headers)
        if response.status_code != 200 and not (method == "GET" and response.status_code == 304):
            raise api_error(
                response.status_code,
                response.reason_phrase,
                response.text,
                response.headers.get("Retry-After"),
            )
        return response

    async def post(
        self, path: str, body: bytes, *, gzip: bool = False, timeout: Optional[float] = None
    ) -> Answer:
        """POST JSON bytes; answers other than 200 raise :class:`APIError`."""
        headers = {"Content-Type": "application/json"}
        if gzip:
            headers["Content-Encoding"] = "gzip"
            if len(body) > _GZIP_INLINE_BYTES:
                loop = asyncio.get_running_loop()
                body = await loop.run_in_executor(None, _gzip.compress, body, 1)
            else:
                body = _gzip.compress(body, compresslevel=1)
        return await self._send("POST", path, timeout, content=body, headers=headers)

    async def post_batch(
        self,
        api_key: str,
        array: bytes,
        *,
        gzip: bool = False,
        historical_migration: bool = False,
        timeout: Optional[float] = None,
        ai: bool = False,
    ) -> None:
        """POST an already-encoded JSON array of messages to ``/batch/``, or to the AI endpoint."""
        body = batch_body(api_key, array, historical_migration, ai=ai)
        await self.post(AI_BATCH_PATH if ai else BATCH_PATH, body, gzip=gzip, timeout=timeout)

    async def post_v1(
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

        Returns the per-event answer of a 2xx; raises :class:`CaptureV1Error` otherwise. A large
        body is built and compressed on a worker thread, not on the event loop.
        """
        prepare = (api_key, array, batch, historical_migration, compression)
        if len(array) > _GZIP_INLINE_BYTES:
            body, headers = await asyncio.get_running_loop().run_in_executor(None, prepare_attempt, *prepare)
        else:
            body, headers = prepare_attempt(*prepare)
        response = await self._request("POST", CAPTURE_V1_PATH, timeout, content=body, headers=headers)
        return answer_of(
            response.status_code, response.content, response.text, response.headers.get("Retry-After"), batch
        )

    async def post_flags(self, api_key: str, body: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
        """POST to ``/flags/?v=2``; return the JSON object, raising on errors and quota limits."""
        response = await self.post(FLAGS_PATH, flags_request_body(api_key, body), timeout=timeout)
        return check_flags_answer(response.status_code, json_body(response))

    async def get_flag_definitions(
        self, api_key: str, personal_api_key: str, *, timeout: float, etag: Optional[str] = None
    ) -> tuple[int, Optional[str], Any]:
        """GET the local-evaluation definitions: ``(status, etag, body)``; 304 has no body."""
        headers = {"Authorization": f"Bearer {personal_api_key}"}
        if etag:
            headers["If-None-Match"] = etag
        response = await self._send("GET", definitions_path(api_key), timeout, headers=headers)
        body = None if response.status_code == 304 else json_body(response)
        return response.status_code, response.headers.get("ETag"), body

    async def get_remote_config(
        self, api_key: str, personal_api_key: str, key: str, *, timeout: float
    ) -> Any:
        """GET a remote-config flag's payload (decrypted by the server)."""
        headers = {"Authorization": f"Bearer {personal_api_key}"}
        response = await self._send("GET", remote_config_path(api_key, key), timeout, headers=headers)
        return json_body(response)
