"""DefinitionSource: where a resolver's flag definitions come from, and the snapshot they make.

Offline definitions, a file cache, the fleet's shared cache (``flag_definition_cache_provider``)
and the definitions API, polled with ETag on a ``posthog.poller`` thread. The snapshot is swapped
in one assignment; readers never lock.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Final, Optional, Union

from .. import _pid
from .._http.retry import retry_delays
from ..exceptions import APIError, QuotaLimitError
from ..poller import Poller
from ..request import Transport
from .cache import PathLike, load_json_file, read_cache, write_cache
from .definitions import EMPTY_DEFINITIONS, FlagDefinitions
from .fleet import SharedDefinitions
from .settings import FlagSettings
from .snapshot_code import prepare

__all__ = ["DEFINITIONS_TIMEOUT", "DefinitionSource"]

log = logging.getLogger("posthog")

#: Timeout of the definitions request (3.x: 10 s); it runs on the poller thread only.
DEFINITIONS_TIMEOUT: Final = 10.0
#: A process that finds the fleet's cache empty looks again this often, this many times, before
#: fetching for itself (the leader is probably fetching at that moment).
_COLD_WAIT: Final = 0.2
_COLD_LOOKS: Final = 5


class DefinitionSource:
    """Loads, polls and holds one client's flag definitions."""

    def __init__(
        self,
        settings: FlagSettings,
        transport: Transport,
        *,
        definitions: Union[Mapping[str, Any], PathLike, None] = None,
        cache_path: Optional[PathLike] = None,
        cache_provider: Any = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.snapshot: Optional[FlagDefinitions] = None  # None: never loaded
        self._etag: Optional[str] = None
        self._lock = threading.Lock()
        self._first_attempt = threading.Event()
        self._loaded = threading.Event()  # set once a snapshot exists
        #: the process whose poller runs (-1: none); a flag call reads it to skip :meth:`current`
        self.poller_pid = -1
        self._failure_delays: Optional[Iterator[float]] = None
        self._logged_failure: Optional[str] = None
        self.poller: Optional[Poller] = None
        self._stopped = False
        self._cache_path = cache_path
        #: the fleet's shared definitions (``flag_definition_cache_provider``) and poll counters
        self.fleet = SharedDefinitions(cache_provider)
        self._shared_data: Optional[Mapping[str, Any]] = None  # what the snapshot was read from
        self._cold_looks = 0
        #: offline definitions without a personal key: no network for flags at all
        self.local_only = False
        #: whether captures get $feature/... properties (read on every capture)
        self.may_enrich = False
        if definitions is not None:
            body = load_json_file(definitions) if isinstance(definitions, (str, os.PathLike)) else definitions
            if not isinstance(body, Mapping):
                raise ValueError("flag_definitions must be a dict or a path to a JSON object")
            self.swap(
                FlagDefinitions.parse(body.get("flags"), body.get("group_type_mapping"), body.get("cohorts"))
            )
            self.local_only = not settings.personal_api_key
        elif cache_path is not None:
            self._load_cache(cache_path)

    def start(self) -> None:
        """Start polling when this client may (a personal key, sending, not disabled)."""
        settings = self.settings
        if settings.personal_api_key and settings.send and not settings.is_disabled():
            self.ensure_polling()

    # --- the snapshot ----------------------------------------------------------------------
    def swap(self, snapshot: FlagDefinitions) -> None:
        self.snapshot = snapshot
        self._loaded.set()
        #: whether captures get $feature/... properties (read on every capture)
        self.may_enrich = bool(snapshot.flags)
        self._first_attempt.set()

    def _prepared(self, snapshot: FlagDefinitions) -> FlagDefinitions:
        """A fetched snapshot with its flags compiled, on the thread that fetched it (the poller's)."""
        return prepare(snapshot)

    def current(self) -> Optional[FlagDefinitions]:
        """The loaded snapshot, waiting (at most the flag timeout) for a first load in progress."""
        snapshot = self.snapshot
        if snapshot is not None:
            if self.poller is not None and self.poller_pid != _pid.PID:
                self.ensure_polling()  # forked child: keep the snapshot, restart polling
            return snapshot
        settings = self.settings
        if not settings.personal_api_key or self.local_only:
            return None
        self.ensure_polling()
        if not self._first_attempt.is_set():
            self._first_attempt.wait(settings.feature_flags_request_timeout_seconds)
        return self.snapshot

    def raw_flags(self) -> Optional[list[dict[str, Any]]]:
        """Definitions as received."""
        snapshot = self.snapshot
        return None if snapshot is None else snapshot.raw_flags

    def raw_flags_by_key(self) -> Optional[dict[str, dict[str, Any]]]:
        """Definitions by key."""
        snapshot = self.snapshot
        if snapshot is None:
            return None
        return {flag["key"]: flag for flag in snapshot.raw_flags if isinstance(flag, dict) and "key" in flag}

    def raw_group_type_mapping(self) -> Optional[dict[str, Any]]:
        """Group type mapping as received."""
        snapshot = self.snapshot
        return None if snapshot is None else snapshot.raw_group_type_mapping

    def raw_cohorts(self) -> Optional[dict[str, Any]]:
        """Cohorts as received."""
        snapshot = self.snapshot
        return None if snapshot is None else snapshot.raw_cohorts

    def _replace(self, flags: Any = ..., mapping: Any = ..., cohorts: Any = ...) -> None:
        with self._lock:
            self._etag = None  # assigned by hand: the next poll must not answer "unchanged"
            old = self.snapshot or EMPTY_DEFINITIONS
            self.swap(
                FlagDefinitions.parse(
                    old.raw_flags if flags is ... else (flags or []),
                    old.raw_group_type_mapping if mapping is ... else mapping,
                    old.raw_cohorts if cohorts is ... else cohorts,
                )
            )

    def set_flags(self, flags: Optional[list[dict[str, Any]]]) -> None:
        """Replace the flag list (3.x tests assign ``client.feature_flags``)."""
        self._replace(flags=flags)

    def set_group_type_mapping(self, mapping: Optional[dict[str, Any]]) -> None:
        """Replace the group type mapping."""
        self._replace(mapping=mapping)

    def set_cohorts(self, cohorts: Optional[dict[str, Any]]) -> None:
        """Replace the cohorts."""
        self._replace(cohorts=cohorts)

    # --- loading ---------------------------------------------------------------------------
    def ensure_polling(self) -> None:
        if self._stopped:
            return
        with self._lock:
            pid = os.getpid()
            if self.poller is not None and self.poller_pid == pid and self.poller.is_alive():
                return
            settings = self.settings
            if not settings.personal_api_key:
                return
            self.poller = Poller(settings.poll_interval, self._poll)
            self.poller_pid = pid
            self.poller.start()

    def _poll(self) -> Optional[float]:
        """One fetch; returns a shorter wait after a failure (backoff up to the poll interval)."""
        try:
            if self.settings.is_disabled():  # e.g. POSTHOG_DISABLED set after the client was built
                return None
            if self.fleet.provider is not None:
                shared = self._read_shared()
                if shared is not None:
                    self._poll_succeeded()
                    return shared or None
            self._fetch(raise_auth_errors=False)
        except Exception as exc:  # any failure: keep what we have, retry with backoff
            return self._poll_failed(exc)
        self._poll_succeeded()
        return None

    def _poll_failed(self, exc: Exception) -> float:
        """A poll failed: log once per episode; the wait before the next one."""
        self._note_failure(exc)
        self._first_attempt.set()
        if self._failure_delays is None:
            self._failure_delays = retry_delays()
        return min(float(self.settings.poll_interval), next(self._failure_delays) * 2)

    def _poll_succeeded(self) -> None:
        self._failure_delays = None
        self._logged_failure = None

    def _note_failure(self, exc: Exception) -> None:
        kind = type(exc).__name__ + (f"{exc.status}" if isinstance(exc, APIError) else "")
        if self._logged_failure == kind:
            return  # once per episode, not once per poll
        self._logged_failure = kind
        if isinstance(exc, APIError) and exc.status == 401:
            log.error(
                "[FEATURE FLAGS] Error loading feature flags: To use feature flags, please set a valid "
                "personal_api_key. More information: https://posthog.com/docs/api/overview"
            )
        elif isinstance(exc, APIError) and exc.status == 402:
            log.warning("[FEATURE FLAGS] PostHog feature flags quota limited; local flags reset")
        else:
            log.warning("[FEATURE FLAGS] Fetching feature flag definitions failed (%s); will retry", exc)

    def _read_shared(self) -> Optional[float]:
        """Take definitions another process stored, unless this one fetches.

        Returns None when this process should fetch from the API, 0 when the cache answered,
        or a short wait before looking again (a cold fleet: the leader is fetching right now).
        """
        fleet = self.fleet
        if fleet.should_fetch():
            return None
        data = fleet.read()
        if data is None:
            if self.snapshot is None and not fleet.failing and self._cold_looks < _COLD_LOOKS:
                self._cold_looks += 1
                return _COLD_WAIT
            return None
        if self.snapshot is None or data != self._shared_data:
            try:
                snapshot = FlagDefinitions.parse(
                    data["flags"], data.get("group_type_mapping"), data.get("cohorts")
                )
            except ValueError as exc:  # not definitions: fetch them ourselves
                log.warning("[FEATURE FLAGS] unusable definitions in the flag definitions cache: %s", exc)
                return None
            self._shared_data = data
            self.swap(self._prepared(snapshot))
        etag = data.get("etag")
        self._etag = etag if isinstance(etag, str) else None
        self._first_attempt.set()
        return 0.0

    def _share(self, status: int, body: Any) -> None:
        """Hand what a fetch brought (or confirmed, on 304) to the fleet's cache."""
        if self.fleet.provider is None:
            return
        if status == 304:
            snapshot = self.snapshot
            if snapshot is None:
                return
            body = {
                "flags": snapshot.raw_flags,
                "group_type_mapping": snapshot.raw_group_type_mapping,
                "cohorts": snapshot.raw_cohorts,
            }
        self._shared_data = None
        self.fleet.store(body, self._etag)

    def _fetch(self, *, raise_auth_errors: bool) -> None:
        settings = self.settings
        assert settings.personal_api_key is not None
        self.fleet.count("polls")
        try:
            response = self.transport.get_flag_definitions(
                settings.api_key, settings.personal_api_key, timeout=DEFINITIONS_TIMEOUT, etag=self._etag
            )
        except APIError as exc:
            self._refused(exc)
            raise
        body = None if response.status_code == 304 else response.json()
        self._accept(response.status_code, response.headers.get("ETag"), body)
        self._share(response.status_code, body)

    def _refused(self, exc: APIError) -> None:
        """The definitions request was refused."""
        if exc.status == 402:
            # 3.x: over quota means no local flags at all; the next 200 brings them back.
            self._etag = None
            self.swap(EMPTY_DEFINITIONS)

    def _accept(self, status: int, etag: Optional[str], body: Any) -> None:
        """Take a definitions answer: unchanged (304), or a new snapshot (raises if unusable)."""
        if status == 304:
            self.fleet.count("not_modified")
            self._first_attempt.set()
            return
        quota = body.get("quotaLimited") if isinstance(body, dict) else None
        if isinstance(quota, list) and "feature_flags" in quota:
            raise QuotaLimitError(200, "Feature flags quota limited")
        snapshot = self._prepared(FlagDefinitions.from_response(body))
        self._etag = etag
        self.swap(snapshot)
        if self._cache_path is not None:
            write_cache(self._cache_path, self.settings.api_key, self._etag, body)

    def load_now(self) -> None:
        """Fetch definitions synchronously (3.x ``load_feature_flags``), then keep polling."""
        settings = self.settings
        if not settings.personal_api_key:
            log.warning("[FEATURE FLAGS] You have to specify a personal_api_key to use feature flags.")
            if self.snapshot is None:
                self.swap(EMPTY_DEFINITIONS)
            return
        try:
            self._fetch(raise_auth_errors=settings.debug)
        except APIError as exc:
            self._note_failure(exc)
            self._first_attempt.set()
            if settings.debug and exc.status in (401, 402):
                raise
        except Exception as exc:  # network and parse errors: logged, polling retries
            self._note_failure(exc)
            self._first_attempt.set()
        self.ensure_polling()

    def wait_until_loaded(self, timeout: float) -> bool:
        """Wait until definitions are loaded (starting the poller if needed)."""
        if self.snapshot is None and self.settings.personal_api_key:
            self.ensure_polling()
        self._loaded.wait(timeout)
        return self.snapshot is not None

    def _load_cache(self, path: PathLike) -> None:
        cached = read_cache(path, self.settings.api_key)
        if cached is not None:
            body, etag = cached
            try:
                self.swap(FlagDefinitions.from_response(body))
            except ValueError as exc:  # not a definitions body: just not used
                log.warning("could not read the flag definitions cache %s: %s", path, exc)
                return
            self._etag = etag

    def stop(self, wait: bool = True) -> None:
        """Stop polling (waiting at most a second); no flag call restarts it afterwards."""
        if not self._stopped and self.fleet.provider is not None:
            self.fleet.shutdown()  # even if this process never led
        self._stopped = True
        self._first_attempt.set()  # nobody waits for a load that will not happen
        poller = self.poller
        if poller is not None:
            poller.stop(1.0 if wait else 0)
