"""``AsyncPosthog`` (also ``AsyncClient``): the PostHog client for asyncio applications.

Event calls keep their 3.x signatures and return at once (no I/O); an asyncio task on the
client's loop sends them. Flag calls are coroutines: local evaluation is the blocking client's,
and the server is asked without blocking the loop. Needs the ``async`` extra (httpx).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Optional

from ._async_client_flags import AsyncFlagMethods
from ._client_base import ClientBase, weak_capture
from ._client_events import EventResult, check_capture, warn_context
from ._http.async_transport import AsyncTransport, prepare, require_backend
from ._pipeline.async_dispatcher import AsyncDispatcher
from ._pipeline.dispatcher import DEFAULT_FLUSH_TIMEOUT
from .feature_flags.async_resolver import AsyncFlagResolver
from .feature_flags.cache import PathLike

__all__ = ["AsyncClient", "AsyncPosthog"]

log = logging.getLogger("posthog")

#: What ``capture(send_feature_flags=True)`` returns when it must first ask the server for flags.
PENDING: str = "pending"


class AsyncPosthog(AsyncFlagMethods, ClientBase):
    """A PostHog client for asyncio: ``capture()`` and friends queue without I/O; flag calls,
    ``flush()``, ``shutdown()`` and ``capture_immediate()`` are awaited.

    Takes the keyword arguments of :class:`~posthog.Posthog`; ``thread`` and ``sync_mode`` have
    no effect (one task sends), nor does ``queue_full_timeout`` (a full queue never blocks a loop).
    """

    _dispatcher: AsyncDispatcher
    _flags: AsyncFlagResolver

    # --- parts -----------------------------------------------------------------------------
    def _make_dispatcher(self, **settings: Any) -> AsyncDispatcher:
        if not hasattr(self, "_atransport"):  # the first pipeline; capture_ai's shares them
            require_backend()
            self._atransport = AsyncTransport(self.host, self.timeout)
            self._deferred: set[asyncio.Task[Any]] = set()
        settings.pop("threads", None)
        settings.pop("sync_mode", None)
        return AsyncDispatcher(atransport=self._atransport, **settings)

    def _async_pipelines(self) -> list[AsyncDispatcher]:
        return [p for p in self._pipelines() if isinstance(p, AsyncDispatcher)]

    def _make_flags(
        self, *, definitions: Any, cache_path: Optional[PathLike], cache_provider: Any
    ) -> AsyncFlagResolver:
        return AsyncFlagResolver(
            self._flag_settings,
            self._transport,
            self._atransport,
            weak_capture(self),
            definitions=definitions,
            cache_path=cache_path,
            cache_provider=cache_provider,
        )

    def _warm_up(self) -> None:
        """Import the HTTP library and build the TLS context off the event loop, once per process."""
        prepare()

    # --- events ----------------------------------------------------------------------------
    def capture(
        self,
        distinct_id: Any = None,
        event: Optional[str] = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        send_feature_flags: bool = False,
        disable_geoip: Optional[bool] = None,
    ) -> EventResult:
        """Capture ``event`` for ``distinct_id``; returns ``(accepted, message)`` without I/O.

        With ``send_feature_flags=True`` and no local definitions, the flags are fetched in the
        background and the event is queued when they arrive: it returns ``(True, "pending")``.
        """
        if send_feature_flags and not self.disabled and self._flags.needs_remote_enrichment():
            loop = asyncio._get_running_loop()
            if loop is not None:
                if context is not None:
                    warn_context()
                check_capture(distinct_id, event, properties, groups)
                stamp = datetime.now(timezone.utc) if timestamp is None else timestamp
                job = self._capture_with_flags(
                    distinct_id, event, properties, stamp, uuid, groups, disable_geoip
                )
                task = loop.create_task(job)
                self._deferred.add(task)
                task.add_done_callback(self._deferred.discard)
                return True, PENDING
        return super().capture(
            distinct_id,
            event,
            properties,
            context,
            timestamp,
            uuid,
            groups,
            send_feature_flags,
            disable_geoip,
        )

    async def _flag_properties(
        self, distinct_id: Any, properties: Optional[Mapping[str, Any]], groups: Any, disable_geoip: Any
    ) -> dict[str, Any]:
        """``properties`` under the server's flags for this user (the caller's keys win)."""
        merged = await self._flags.aenrichment(distinct_id, groups, disable_geoip)
        if properties:
            merged.update(properties)
        return merged

    async def _capture_with_flags(
        self,
        distinct_id: Any,
        event: Optional[str],
        properties: Optional[Mapping[str, Any]],
        timestamp: Any,
        uuid: Any,
        groups: Optional[Mapping[str, Any]],
        disable_geoip: Optional[bool],
    ) -> None:
        props = await self._flag_properties(distinct_id, properties, groups, disable_geoip)
        try:
            self._capture(None, distinct_id, event, props, timestamp, uuid, groups, False, disable_geoip)
        except Exception:  # checked at the call site; nothing here may raise into the loop
            log.exception("could not capture %r after fetching flags", event)

    async def capture_immediate(
        self,
        distinct_id: Any = None,
        event: Optional[str] = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        send_feature_flags: bool = False,
        disable_geoip: Optional[bool] = None,
        *,
        timeout: Optional[float] = None,
    ) -> EventResult:
        """Send one event now and return once the server has answered (retrying transient
        failures) or ``timeout`` seconds (default: the client's ``timeout``) have passed.

        Returns ``(delivered, message)``; an event not delivered is reported as dropped.
        """
        if context is not None:
            warn_context()
        check_capture(distinct_id, event, properties, groups)
        if send_feature_flags and not self.disabled and self._flags.needs_remote_enrichment():
            properties = await self._flag_properties(distinct_id, properties, groups, disable_geoip)
            send_feature_flags = False
        held: list[tuple[dict[str, Any], str]] = []

        def hold(msg: dict[str, Any], text: str) -> bool:
            held.append((msg, text))
            return True

        accepted, message = self._capture(
            hold, distinct_id, event, properties, timestamp, uuid, groups, send_feature_flags, disable_geoip
        )
        if not held or not self.send:
            return accepted, message
        msg, text = held[0]
        return await self._dispatcher.send_now(msg, text, timeout), message

    # --- lifecycle -------------------------------------------------------------------------
    async def _await_deferred(self, deadline: float) -> None:
        pending = {t for t in self._deferred if not t.done() and t.get_loop() is asyncio.get_running_loop()}
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))

    async def flush(self, timeout: Optional[float] = None) -> int:
        """Send everything queued so far; waits at most ``timeout`` seconds (default 10).

        Returns the number of events still pending when it returned.
        """
        limit = DEFAULT_FLUSH_TIMEOUT if timeout is None else max(0.0, timeout)
        deadline = time.monotonic() + limit
        await self._await_deferred(deadline)
        pending = 0
        for pipeline in self._async_pipelines():
            pending += await pipeline.aflush(max(0.0, deadline - time.monotonic()))
        return pending

    async def shutdown(self, timeout: Optional[float] = None) -> None:
        """Flush and stop within ``timeout`` seconds (default 5); idempotent; never raises.

        Events still pending at the deadline are reported through ``on_error`` as dropped.
        """
        try:
            limit = self._dispatcher.shutdown_timeout if timeout is None else max(0.0, timeout)
            deadline = time.monotonic() + limit
            await self._await_deferred(deadline)
            self._flags.stop()
            for pipeline in self._async_pipelines():
                await pipeline.ashutdown(max(0.0, deadline - time.monotonic()))
            if self.exception_capture is not None:
                self.exception_capture.close()
                self.exception_capture = None
        except asyncio.CancelledError:
            raise
        except Exception:  # shutdown runs on exit paths; it must not raise
            log.exception("error during shutdown")

    async def __aenter__(self) -> AsyncPosthog:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await self.shutdown()


#: The name upstream uses for the asyncio client.
AsyncClient = AsyncPosthog
