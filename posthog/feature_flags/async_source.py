"""AsyncDefinitionSource: the definitions of an async client, polled by an asyncio task.

The same snapshot, fleet sharing and answer handling as :class:`~.source.DefinitionSource`; what
differs is everything that waits: the poll is a task on the running loop (started by the first
flag call inside a loop), a first load is awaited rather than blocked on, and the fleet
provider's blocking calls run on the loop's executor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from typing import Any, Final, Optional

from .._http.async_transport import AsyncTransport
from ..exceptions import APIError
from ..request import Transport
from .definitions import EMPTY_DEFINITIONS, FlagDefinitions
from .settings import FlagSettings
from .source import DEFINITIONS_TIMEOUT, DefinitionSource

__all__ = ["AsyncDefinitionSource", "wait_event"]

log = logging.getLogger("posthog")

_JITTER: Final = 0.1


async def wait_event(event: threading.Event, timeout: float) -> bool:
    """Await a ``threading.Event`` without blocking the loop (it may be set from any thread)."""
    deadline = time.monotonic() + max(0.0, timeout)
    pause = 0.001
    while not event.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(pause, remaining))
        pause = min(0.02, pause * 2)
    return True


class AsyncDefinitionSource(DefinitionSource):
    """Loads, polls (on the loop) and holds an async client's flag definitions."""

    def __init__(
        self, settings: FlagSettings, transport: Transport, atransport: AsyncTransport, **options: Any
    ) -> None:
        self._atransport = atransport
        self._poll_task: Optional[asyncio.Task[None]] = None
        super().__init__(settings, transport, **options)

    def _prepared(self, snapshot: FlagDefinitions) -> FlagDefinitions:
        """Compiled off the loop only (the fleet cache is read on an executor thread); on the loop,
        each flag is compiled when first evaluated, so no single step holds the loop long."""
        if asyncio._get_running_loop() is not None:
            return snapshot
        return super()._prepared(snapshot)

    def ensure_polling(self) -> None:
        """Start the polling task on the running loop (none outside a loop: the next call starts it)."""
        if self._stopped:
            return
        loop = asyncio._get_running_loop()
        if loop is None:
            return
        with self._lock:
            task = self._poll_task
            if (
                task is not None
                and not task.done()
                and self.poller_pid == os.getpid()
                and not task.get_loop().is_closed()
            ):
                return
            if not self.settings.personal_api_key:
                return
            self.poller_pid = os.getpid()
            self._poll_task = loop.create_task(self._poll_forever(), name="posthog.poller")

    @property
    def poll_task(self) -> Optional[asyncio.Task[None]]:
        """The polling task, once started."""
        return self._poll_task

    async def _poll_forever(self) -> None:
        while not self._stopped:
            started = time.monotonic()
            wait = await self._apoll()
            interval = float(self.settings.poll_interval)
            wait = (interval if wait is None else wait) * (1 + random.uniform(-_JITTER, _JITTER))
            await asyncio.sleep(max(0.0, wait - (time.monotonic() - started)))

    async def _apoll(self) -> Optional[float]:
        try:
            if self.settings.is_disabled():
                return None
            if self.fleet.provider is not None:
                # The provider's calls may block (network): not on the loop.
                shared = await asyncio.get_running_loop().run_in_executor(None, self._read_shared)
                if shared is not None:
                    self._poll_succeeded()
                    return shared or None
            await self._afetch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep what we have, retry with backoff
            return self._poll_failed(exc)
        self._poll_succeeded()
        return None

    async def _afetch(self) -> None:
        settings = self.settings
        assert settings.personal_api_key is not None
        self.fleet.count("polls")
        try:
            status, etag, body = await self._atransport.get_flag_definitions(
                settings.api_key, settings.personal_api_key, timeout=DEFINITIONS_TIMEOUT, etag=self._etag
            )
        except APIError as exc:
            self._refused(exc)
            raise
        self._accept(status, etag, body)
        if self.fleet.provider is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._share, status, body)

    def stop(self, wait: bool = True) -> None:
        """Stop polling; no flag call restarts it afterwards."""
        super().stop(wait)
        task = self._poll_task
        if task is None or task.done():
            return
        loop = task.get_loop()
        if asyncio._get_running_loop() is loop:
            task.cancel()
            return
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # its loop is closed: the task is gone with it
            pass

    # --- loading ---------------------------------------------------------------------------
    def current(self) -> Optional[FlagDefinitions]:
        """The loaded snapshot, never waiting (used by the blocking paths shared with the base)."""
        if self.settings.personal_api_key and not self.local_only:
            self.ensure_polling()
        return self.snapshot

    async def acurrent(self) -> Optional[FlagDefinitions]:
        """The loaded snapshot, awaiting (at most the flag timeout) a first load in progress."""
        settings = self.settings
        if not settings.personal_api_key or self.local_only:
            return self.snapshot
        self.ensure_polling()
        if self.snapshot is None and not self._first_attempt.is_set():
            await wait_event(self._first_attempt, settings.feature_flags_request_timeout_seconds)
        return self.snapshot

    async def wait_loaded(self, timeout: float) -> bool:
        """Await flag definitions (starting the poller if needed); True once they are loaded."""
        if self.snapshot is None and self.settings.personal_api_key:
            self.ensure_polling()
        await wait_event(self._loaded, timeout)
        return self.snapshot is not None

    async def aload_now(self) -> None:
        """Fetch definitions now (3.x ``load_feature_flags``), then keep polling."""
        settings = self.settings
        if not settings.personal_api_key:
            log.warning("[FEATURE FLAGS] You have to specify a personal_api_key to use feature flags.")
            if self.snapshot is None:
                self.swap(EMPTY_DEFINITIONS)
            return
        try:
            await self._afetch()
        except Exception as exc:  # logged; polling retries
            self._note_failure(exc)
            self._first_attempt.set()
            if settings.debug and isinstance(exc, APIError) and exc.status in (401, 402):
                raise
        self.ensure_polling()
