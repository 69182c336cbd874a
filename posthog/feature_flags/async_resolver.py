"""AsyncFlagResolver: the flag resolver of :class:`~posthog.AsyncPosthog`.

Local evaluation is the blocking resolver's, unchanged (plain CPU work, no I/O once definitions
are loaded). What differs is everything that waits: definitions are polled by an asyncio task
(with ETag), a first load is awaited rather than blocked on, and the server is asked without
blocking the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Optional

from .._async_transport import AsyncTransport
from ..exceptions import APIError
from ..types import FlagsAndPayloads, FlagsResponse, FlagValue, normalize_flags_response
from .definitions import EMPTY_DEFINITIONS, FlagDefinitions
from .enrichment import flag_properties
from .evaluation import augment_properties
from .remote import NO_ANSWER, RETRY_PAUSE, RemoteFlag, flag_answer, merge_answer, retry_budget
from .resolver import DEFINITIONS_TIMEOUT, FlagResolver

if TYPE_CHECKING:
    from .._client_base import ClientBase as Client

__all__ = ["AsyncFlagResolver"]

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


class AsyncFlagResolver(FlagResolver):
    """Answers flag questions for one async client without blocking its event loop."""

    def __init__(self, client: Client, atransport: AsyncTransport, **options: Any) -> None:
        self._atransport = atransport
        self._poll_task: Optional[asyncio.Task[None]] = None
        super().__init__(client, **options)

    # --- polling ---------------------------------------------------------------------------
    def _ensure_poller(self) -> None:
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
                and self._poller_pid == os.getpid()
                and not task.get_loop().is_closed()
            ):
                return
            if not self._client.personal_api_key:
                return
            self._poller_pid = os.getpid()
            self._poll_task = loop.create_task(self._poll_forever(), name="posthog.poller")

    @property
    def poll_task(self) -> Optional[asyncio.Task[None]]:
        """The polling task, once started."""
        return self._poll_task

    async def _poll_forever(self) -> None:
        while not self._stopped:
            started = time.monotonic()
            wait = await self._apoll()
            try:
                interval = float(self._client.poll_interval)
            except ReferenceError:
                return
            wait = (interval if wait is None else wait) * (1 + random.uniform(-_JITTER, _JITTER))
            await asyncio.sleep(max(0.0, wait - (time.monotonic() - started)))

    async def _apoll(self) -> Optional[float]:
        try:
            if self._client.disabled:
                return None
            if self.fleet.provider is not None:
                # The provider's calls may block (network): not on the loop.
                shared = await asyncio.get_running_loop().run_in_executor(None, self._read_shared)
                if shared is not None:
                    self._poll_succeeded()
                    return shared or None
            await self._afetch()
        except ReferenceError:  # the client was garbage-collected: stop polling for it
            self.stop()
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep what we have, retry with backoff
            return self._poll_failed(exc)
        self._poll_succeeded()
        return None

    async def _afetch(self) -> None:
        client = self._client
        assert client.personal_api_key is not None
        self.fleet.count("polls")
        try:
            status, etag, body = await self._atransport.get_flag_definitions(
                client.api_key, client.personal_api_key, timeout=DEFINITIONS_TIMEOUT, etag=self._etag
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
    def _current(self) -> Optional[FlagDefinitions]:
        """The loaded snapshot, never waiting (used by the blocking paths shared with the base)."""
        if self._client.personal_api_key and not self.local_only:
            self._ensure_poller()
        return self._snapshot

    async def current(self) -> Optional[FlagDefinitions]:
        """The loaded snapshot, awaiting (at most the flag timeout) a first load in progress."""
        client = self._client
        if not client.personal_api_key or self.local_only:
            return self._snapshot
        self._ensure_poller()
        if self._snapshot is None and not self._first_attempt.is_set():
            await wait_event(self._first_attempt, client.feature_flags_request_timeout_seconds)
        return self._snapshot

    async def wait_loaded(self, timeout: float) -> bool:
        """Await flag definitions (starting the poller if needed); True once they are loaded."""
        if self._snapshot is None and self._client.personal_api_key:
            self._ensure_poller()
        await wait_event(self._loaded, timeout)
        return self._snapshot is not None

    async def aload_now(self) -> None:
        """Fetch definitions now (3.x ``load_feature_flags``), then keep polling."""
        client = self._client
        if not client.personal_api_key:
            log.warning("[FEATURE FLAGS] You have to specify a personal_api_key to use feature flags.")
            if self._snapshot is None:
                self._swap(EMPTY_DEFINITIONS)
            return
        try:
            await self._afetch()
        except Exception as exc:  # logged; polling retries
            self._note_failure(exc)
            self._first_attempt.set()
            if client.debug and isinstance(exc, APIError) and exc.status in (401, 402):
                raise
        self._ensure_poller()

    # --- the server ------------------------------------------------------------------------
    async def fetch_flags(self, body: Mapping[str, Any]) -> FlagsResponse:
        """Ask ``/flags`` without blocking the loop; one quick retry within the flag timeout."""
        client = self._client
        timeout = client.feature_flags_request_timeout_seconds
        deadline = time.monotonic() + timeout
        post = self._atransport.post_flags
        try:
            return normalize_flags_response(await post(client.api_key, body, timeout=timeout))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            remaining = retry_budget(exc, deadline)
            if remaining is None:
                raise
        await asyncio.sleep(RETRY_PAUSE)
        return normalize_flags_response(await post(client.api_key, body, timeout=remaining))

    async def _aremote_flag(self, key: str, body: Mapping[str, Any]) -> RemoteFlag:
        try:
            response = await self.fetch_flags(body)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # remote trouble means "unknown", never an exception
            log.warning("[FEATURE FLAGS] Unable to get flag %s remotely: %s", key, exc)
            return NO_ANSWER
        return flag_answer(key, response)

    # --- evaluation ------------------------------------------------------------------------
    async def aget_feature_flag(
        self,
        key: str,
        distinct_id: Any,
        groups: Mapping[str, Any],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_evaluate_locally: bool,
        send_feature_flag_events: bool,
        disable_geoip: Optional[bool],
    ) -> Optional[FlagValue]:
        """One flag's value (the blocking resolver's ``get_feature_flag``, awaiting the server)."""
        snapshot = await self.current()
        value = self.local_flag(snapshot, key, distinct_id, groups, person_properties, group_properties)
        answer = NO_ANSWER
        if value is None and self.may_ask(only_evaluate_locally):
            person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
            body = self.flags_body(distinct_id, groups, person, group, disable_geoip, [key])
            answer = await self._aremote_flag(key, body)
        if send_feature_flag_events:
            self.report_flag(key, distinct_id, value, answer, groups, disable_geoip)
        return answer.value if value is None else value

    async def aget_feature_flag_payload(
        self,
        key: str,
        distinct_id: Any,
        *,
        match_value: Optional[FlagValue],
        groups: Mapping[str, Any],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_evaluate_locally: bool,
        send_feature_flag_events: bool,
        disable_geoip: Optional[bool],
    ) -> Any:
        """The payload of the flag's value for this user (as stored), or ``None``."""
        person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
        snapshot = await self.current()
        local = self.local_payload(snapshot, key, distinct_id, match_value, groups, person, group)
        answer = NO_ANSWER
        if not local[2] and self.may_ask(only_evaluate_locally):
            body = self.flags_body(distinct_id, groups, person, group, disable_geoip, [key])
            answer = await self._aremote_flag(key, body)
        return self.finish_payload(
            key, distinct_id, local, answer, groups, disable_geoip, send_feature_flag_events
        )

    async def aget_all_flags_and_payloads(
        self,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
        only_evaluate_locally: bool,
        disable_geoip: Optional[bool],
    ) -> FlagsAndPayloads:
        """Every flag; only what is undecided locally is asked of the server."""
        person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
        values, payloads, keys = self.local_flags(await self.current(), distinct_id, groups, person, group)
        if keys != [] and self.may_ask(only_evaluate_locally):
            try:
                body = self.flags_body(distinct_id, groups, person, group, disable_geoip, keys)
                merge_answer(values, payloads, await self.fetch_flags(body))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the local part
                log.warning("[FEATURE FLAGS] Unable to get flags remotely: %s", exc)
        return {"featureFlags": values, "featureFlagPayloads": payloads}

    def needs_remote_enrichment(self, send_feature_flags: bool) -> bool:
        """Whether ``capture(send_feature_flags=True)`` has to ask the server for flags."""
        snapshot = self._snapshot
        return send_feature_flags and not self.local_only and (snapshot is None or not snapshot.flags)

    async def aenrichment(
        self, distinct_id: Any, groups: Optional[Mapping[str, Any]], disable_geoip: Optional[bool]
    ) -> dict[str, Any]:
        """``$feature/<key>`` and ``$active_feature_flags`` from the server, for a capture."""
        try:
            response = await self.fetch_flags(
                self.flags_body(distinct_id, groups or {}, None, None, disable_geoip)
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the capture goes on without flags
            log.warning("[FEATURE FLAGS] Unable to get feature variants: %s", exc)
            return {}
        return flag_properties({key: flag.get_value() for key, flag in response["flags"].items()})
