"""FlagResolver: local evaluation first, the server for what cannot be decided locally.

It owns the definitions snapshot (swapped in one assignment by the poller), the poller itself,
remote fallback and ``$feature_flag_called`` reporting. The client's only contact with flags.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Optional, Union

from .._retry import retry_delays
from ..exceptions import APIError, QuotaLimitError
from ..poller import Poller
from ..types import FeatureFlag, FlagsAndPayloads, FlagsResponse, FlagValue
from .cache import PathLike, load_json_file, read_cache, write_cache
from .called_events import CalledEvents
from .definitions import (
    EMPTY_DEFINITIONS,
    FlagDefinitions,
)
from .enrichment import EnrichmentCache, flag_properties
from .evaluation import Inconclusive, augment_properties, evaluate_flag, lookup_payload
from .fleet import SharedDefinitions
from .remote import NO_ANSWER, RemoteFlag, build_flags_body, fetch_flags, flag_answer, merge_answer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .._client_base import ClientBase as Client

__all__ = ["FlagResolver"]

log = logging.getLogger("posthog")

#: Timeout of the definitions request (3.x: 10 s); it runs on the poller thread only.
DEFINITIONS_TIMEOUT: Final = 10.0
#: A process that finds the fleet's cache empty looks again this often, this many times, before
#: fetching for itself (the leader is probably fetching at that moment).
_COLD_WAIT: Final = 0.2
_COLD_LOOKS: Final = 5
_NO_GROUPS: Final[Mapping[str, dict[str, Any]]] = MappingProxyType({})


class FlagResolver:
    """Answers flag questions for one client."""

    def __init__(
        self,
        client: Client,
        *,
        definitions: Union[Mapping[str, Any], PathLike, None] = None,
        cache_path: Optional[PathLike] = None,
        cache_provider: Any = None,
    ) -> None:
        # Weak: the poller thread holds this resolver, and must not keep the client alive.
        self._client: Client = weakref.proxy(client)
        self._snapshot: Optional[FlagDefinitions] = None  # None: never loaded
        self._etag: Optional[str] = None
        self._lock = threading.Lock()
        self._first_attempt = threading.Event()
        self._loaded = threading.Event()  # set once a snapshot exists
        self._poller_pid = -1
        self._failure_delays: Optional[Iterator[float]] = None
        self._logged_failure: Optional[str] = None
        self.poller: Optional[Poller] = None
        self._stopped = False
        self.called_events = CalledEvents()
        self._enrichment = EnrichmentCache()
        self._cache_path = cache_path
        #: the fleet's shared definitions (``flag_definition_cache_provider``) and poll counters
        self.fleet = SharedDefinitions(cache_provider)
        self._shared_data: Optional[Mapping[str, Any]] = None  # what the snapshot was read from
        self._cold_looks = 0
        self.local_only = False
        self.may_enrich = False
        if definitions is not None:
            body = load_json_file(definitions) if isinstance(definitions, (str, os.PathLike)) else definitions
            if not isinstance(body, Mapping):
                raise ValueError("flag_definitions must be a dict or a path to a JSON object")
            self._swap(
                FlagDefinitions.parse(body.get("flags"), body.get("group_type_mapping"), body.get("cohorts"))
            )
            # Offline definitions without a personal key: no network for flags at all.
            self.local_only = not client.personal_api_key
        elif cache_path is not None:
            self._load_cache(cache_path)
        if client.personal_api_key and client.send and not client.disabled:
            self._ensure_poller()

    # --- the snapshot ----------------------------------------------------------------------
    def _swap(self, snapshot: FlagDefinitions) -> None:
        self._snapshot = snapshot
        self._loaded.set()
        #: whether captures get $feature/... properties (read on every capture)
        self.may_enrich = bool(snapshot.flags)
        self._first_attempt.set()

    def _current(self) -> Optional[FlagDefinitions]:
        """The loaded snapshot, waiting (at most the flag timeout) for a first load in progress."""
        snapshot = self._snapshot
        if snapshot is not None:
            if self.poller is not None and self._poller_pid != os.getpid():
                self._ensure_poller()  # forked child: keep the snapshot, restart polling
            return snapshot
        client = self._client
        if not client.personal_api_key or self.local_only:
            return None
        self._ensure_poller()
        if not self._first_attempt.is_set():
            self._first_attempt.wait(client.feature_flags_request_timeout_seconds)
        return self._snapshot

    def raw_flags(self) -> Optional[list[dict[str, Any]]]:
        """Definitions as received."""
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.raw_flags

    def raw_flags_by_key(self) -> Optional[dict[str, dict[str, Any]]]:
        """Definitions by key."""
        snapshot = self._snapshot
        if snapshot is None:
            return None
        return {flag["key"]: flag for flag in snapshot.raw_flags if isinstance(flag, dict) and "key" in flag}

    def raw_group_type_mapping(self) -> Optional[dict[str, Any]]:
        """Group type mapping as received."""
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.raw_group_type_mapping

    def raw_cohorts(self) -> Optional[dict[str, Any]]:
        """Cohorts as received."""
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.raw_cohorts

    def _replace(self, flags: Any = ..., mapping: Any = ..., cohorts: Any = ...) -> None:
        with self._lock:
            self._etag = None  # assigned by hand: the next poll must not answer "unchanged"
            old = self._snapshot or EMPTY_DEFINITIONS
            self._swap(
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
    def _ensure_poller(self) -> None:
        if self._stopped:
            return
        with self._lock:
            pid = os.getpid()
            if self.poller is not None and self._poller_pid == pid and self.poller.is_alive():
                return
            client = self._client
            if not client.personal_api_key:
                return
            self.poller = Poller(client.poll_interval, self._poll)
            self._poller_pid = pid
            self.poller.start()

    def _poll(self) -> Optional[float]:
        """One fetch; returns a shorter wait after a failure (backoff up to the poll interval)."""
        try:
            if self._client.disabled:  # e.g. POSTHOG_DISABLED set after the client was built
                return None
            if self.fleet.provider is not None:
                shared = self._read_shared()
                if shared is not None:
                    self._poll_succeeded()
                    return shared or None
            self._fetch(raise_auth_errors=False)
        except ReferenceError:  # the client was garbage-collected: stop polling for it
            self.stop()
            return None
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
        return min(float(self._client.poll_interval), next(self._failure_delays) * 2)

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
            if self._snapshot is None and not fleet.failing and self._cold_looks < _COLD_LOOKS:
                self._cold_looks += 1
                return _COLD_WAIT
            return None
        if self._snapshot is None or data != self._shared_data:
            try:
                snapshot = FlagDefinitions.parse(
                    data["flags"], data.get("group_type_mapping"), data.get("cohorts")
                )
            except ValueError as exc:  # not definitions: fetch them ourselves
                log.warning("[FEATURE FLAGS] unusable definitions in the flag definitions cache: %s", exc)
                return None
            self._shared_data = data
            self._swap(snapshot)
        etag = data.get("etag")
        self._etag = etag if isinstance(etag, str) else None
        self._first_attempt.set()
        return 0.0

    def _share(self, status: int, body: Any) -> None:
        """Hand what a fetch brought (or confirmed, on 304) to the fleet's cache."""
        if self.fleet.provider is None:
            return
        if status == 304:
            snapshot = self._snapshot
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
        client = self._client
        assert client.personal_api_key is not None
        self.fleet.count("polls")
        try:
            response = client._transport.get_flag_definitions(
                client.api_key, client.personal_api_key, timeout=DEFINITIONS_TIMEOUT, etag=self._etag
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
            self._swap(EMPTY_DEFINITIONS)

    def _accept(self, status: int, etag: Optional[str], body: Any) -> None:
        """Take a definitions answer: unchanged (304), or a new snapshot (raises if unusable)."""
        if status == 304:
            self.fleet.count("not_modified")
            self._first_attempt.set()
            return
        quota = body.get("quotaLimited") if isinstance(body, dict) else None
        if isinstance(quota, list) and "feature_flags" in quota:
            raise QuotaLimitError(200, "Feature flags quota limited")
        snapshot = FlagDefinitions.from_response(body)
        self._etag = etag
        self._swap(snapshot)
        if self._cache_path is not None:
            write_cache(self._cache_path, self._client.api_key, self._etag, body)

    def load_now(self) -> None:
        """Fetch definitions synchronously (3.x ``load_feature_flags``), then keep polling."""
        client = self._client
        if not client.personal_api_key:
            log.warning("[FEATURE FLAGS] You have to specify a personal_api_key to use feature flags.")
            if self._snapshot is None:
                self._swap(EMPTY_DEFINITIONS)
            return
        try:
            self._fetch(raise_auth_errors=client.debug)
        except APIError as exc:
            self._note_failure(exc)
            self._first_attempt.set()
            if client.debug and exc.status in (401, 402):
                raise
        except Exception as exc:  # network and parse errors: logged, polling retries
            self._note_failure(exc)
            self._first_attempt.set()
        self._ensure_poller()

    def wait_until_loaded(self, timeout: float) -> bool:
        """Wait until definitions are loaded (starting the poller if needed)."""
        if self._snapshot is None and self._client.personal_api_key:
            self._ensure_poller()
        self._loaded.wait(timeout)
        return self._snapshot is not None

    def _load_cache(self, path: PathLike) -> None:
        cached = read_cache(path, self._client.api_key)
        if cached is not None:
            body, etag = cached
            try:
                self._swap(FlagDefinitions.from_response(body))
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

    # --- evaluation ------------------------------------------------------------------------
    def _geoip(self, disable_geoip: Optional[bool]) -> bool:
        return bool(self._client.disable_geoip if disable_geoip is None else disable_geoip)

    def flags_body(
        self,
        distinct_id: Any,
        groups: Mapping[str, Any],
        person: Optional[Mapping[str, Any]],
        group: Optional[Mapping[str, Any]],
        disable_geoip: Optional[bool],
        flag_keys: Optional[list[str]] = None,
    ) -> dict[str, Any]:
        """The ``/flags`` request body for this context."""
        return build_flags_body(distinct_id, groups, person, group, self._geoip(disable_geoip), flag_keys)

    def _remote(
        self,
        distinct_id: Any,
        groups: Mapping[str, Any],
        person: Optional[Mapping[str, Any]],
        group: Optional[Mapping[str, Any]],
        disable_geoip: Optional[bool],
        flag_keys: Optional[list[str]] = None,
    ) -> FlagsResponse:
        client = self._client
        body = self.flags_body(distinct_id, groups, person, group, disable_geoip, flag_keys)
        return fetch_flags(
            client._transport, client.api_key, body, client.feature_flags_request_timeout_seconds
        )

    def may_ask(self, only_evaluate_locally: bool) -> bool:
        """Whether a flag call may ask the server."""
        return not only_evaluate_locally and not self.local_only

    def _evaluate_local(
        self,
        snapshot: Optional[FlagDefinitions],
        key: str,
        distinct_id: Any,
        groups: Mapping[str, Any],
        person: dict[str, Any],
        group: dict[str, dict[str, Any]],
    ) -> Optional[FlagValue]:
        if snapshot is None:
            return None
        flag = snapshot.by_key.get(key)
        if flag is None:
            return None
        result = evaluate_flag(flag, snapshot, distinct_id, groups, person, group)
        if isinstance(result, Inconclusive):
            log.debug("flag %s could not be decided locally: %s", key, result.reason)
            return None
        return result

    def local_flag(
        self,
        snapshot: Optional[FlagDefinitions],
        key: str,
        distinct_id: Any,
        groups: Mapping[str, Any],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Mapping[str, Any]]],
    ) -> Optional[FlagValue]:
        """One flag decided from ``snapshot``, or None when it cannot be decided locally."""
        flag = snapshot.by_key.get(key) if snapshot is not None else None
        if flag is None:
            return None
        if flag.group_type_key is None:
            # A person flag reads only the person's properties: build just those.
            person: dict[str, Any] = {"distinct_id": distinct_id}
            if person_properties:
                person.update(person_properties)
            result = evaluate_flag(flag, snapshot, distinct_id, groups, person, _NO_GROUPS)  # type: ignore[arg-type]
        else:
            person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
            result = evaluate_flag(flag, snapshot, distinct_id, groups, person, group)  # type: ignore[arg-type]
        if isinstance(result, Inconclusive):
            log.debug("flag %s could not be decided locally: %s", key, result.reason)
            return None
        return result

    def get_feature_flag(
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
        """One flag's value; see the 3.x contract in flags.md §6."""
        snapshot = self._snapshot
        if snapshot is None or self.poller is not None:
            snapshot = self._current()
        value = self.local_flag(snapshot, key, distinct_id, groups, person_properties, group_properties)
        answer = NO_ANSWER
        if value is None and self.may_ask(only_evaluate_locally):
            person, group = augment_properties(distinct_id, groups, person_properties, group_properties)
            answer = self._remote_flag(
                key, self.flags_body(distinct_id, groups, person, group, disable_geoip, [key])
            )
        if send_feature_flag_events:
            self.report_flag(key, distinct_id, value, answer, groups, disable_geoip)
        return answer.value if value is None else value

    def report_flag(
        self,
        key: str,
        distinct_id: Any,
        local_value: Optional[FlagValue],
        answer: RemoteFlag,
        groups: Mapping[str, Any],
        disable_geoip: Optional[bool],
    ) -> None:
        """Send ``$feature_flag_called`` for a ``get_feature_flag`` answer (once per user and value)."""
        value = answer.value if local_value is None else local_value
        if value is None:
            return
        self._report_called(
            key,
            distinct_id,
            value,
            local_value is not None,
            groups,
            disable_geoip,
            remote_flag=answer.flag,
            request_id=answer.request_id,
        )

    def _remote_flag(self, key: str, body: Mapping[str, Any]) -> RemoteFlag:
        """Ask the server for one flag; trouble means "unknown", never an exception."""
        client = self._client
        try:
            response = fetch_flags(
                client._transport, client.api_key, body, client.feature_flags_request_timeout_seconds
            )
        except Exception as exc:
            log.warning("[FEATURE FLAGS] Unable to get flag %s remotely: %s", key, exc)
            return NO_ANSWER
        return flag_answer(key, response)

    def local_payload(
        self,
        snapshot: Optional[FlagDefinitions],
        key: str,
        distinct_id: Any,
        match_value: Optional[FlagValue],
        groups: Mapping[str, Any],
        person: dict[str, Any],
        group: dict[str, dict[str, Any]],
    ) -> tuple[Optional[FlagValue], Any, bool]:
        """``(value, payload, decided locally)`` from ``snapshot`` (value None: undecided)."""
        value = match_value
        if value is None:
            value = self._evaluate_local(snapshot, key, distinct_id, groups, person, group)
        flag = snapshot.by_key.get(key) if snapshot is not None else None
        if value is not None and flag is not None:
            # Decided locally: the payload (possibly none) is known without asking the server.
            return value, lookup_payload(flag, value), True
        return value, None, False

    def get_feature_flag_payload(
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
        snapshot = self._current()
        value, payload, locally = self.local_payload(
            snapshot, key, distinct_id, match_value, groups, person, group
        )
        answer = NO_ANSWER
        if not locally and self.may_ask(only_evaluate_locally):
            answer = self._remote_flag(
                key, self.flags_body(distinct_id, groups, person, group, disable_geoip, [key])
            )
        return self.finish_payload(
            key,
            distinct_id,
            (value, payload, locally),
            answer,
            groups,
            disable_geoip,
            send_feature_flag_events,
        )

    def finish_payload(
        self,
        key: str,
        distinct_id: Any,
        local: tuple[Optional[FlagValue], Any, bool],
        answer: RemoteFlag,
        groups: Mapping[str, Any],
        disable_geoip: Optional[bool],
        send_feature_flag_events: bool,
    ) -> Any:
        """The payload after the server's answer (if asked), reporting the call; ``local`` is
        what :meth:`local_payload` returned."""
        value, payload, locally = local
        if answer.value is not None:
            value = answer.value
        if answer.flag is not None:
            payload = answer.flag.metadata.payload
        if send_feature_flag_events and value is not None:
            self._report_called(
                key,
                distinct_id,
                value,
                locally,
                groups,
                disable_geoip,
                remote_flag=answer.flag,
                request_id=answer.request_id,
                payload=payload,
            )
        return payload

    def local_flags(
        self,
        snapshot: Optional[FlagDefinitions],
        distinct_id: Any,
        groups: Mapping[str, Any],
        person: dict[str, Any],
        group: dict[str, dict[str, Any]],
    ) -> tuple[dict[str, FlagValue], dict[str, Any], Optional[list[str]]]:
        """``(values, payloads, keys to ask the server for)`` from ``snapshot``.

        The keys are None when the server must be asked for everything (no definitions).
        """
        values: dict[str, FlagValue] = {}
        payloads: dict[str, Any] = {}
        if snapshot is None or not snapshot.flags:
            return values, payloads, None
        undecided: list[str] = []
        for flag in snapshot.flags:
            result = evaluate_flag(flag, snapshot, distinct_id, groups, person, group)
            if isinstance(result, Inconclusive):
                undecided.append(flag.key)
                continue
            values[flag.key] = result
            payload = lookup_payload(flag, result)
            if payload:
                payloads[flag.key] = payload
        return values, payloads, undecided

    def get_all_flags_and_payloads(
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
        values, payloads, keys = self.local_flags(self._current(), distinct_id, groups, person, group)
        if keys != [] and self.may_ask(only_evaluate_locally):
            try:
                response = self._remote(distinct_id, groups, person, group, disable_geoip, keys)
                merge_answer(values, payloads, response)
            except Exception as exc:  # keep the local part
                log.warning("[FEATURE FLAGS] Unable to get flags remotely: %s", exc)
        return {"featureFlags": values, "featureFlagPayloads": payloads}

    def get_remote_config_payload(self, key: str) -> Any:
        """A remote-config flag's payload, ``None`` on any error."""
        client = self._client
        if not client.personal_api_key:
            log.warning(
                "[FEATURE FLAGS] You have to specify a personal_api_key to fetch remote config payloads."
            )
            return None
        try:
            return client._transport.get_remote_config(
                client.api_key,
                client.personal_api_key,
                key,
                timeout=client.feature_flags_request_timeout_seconds,
            )
        except Exception as exc:  # logged, never raised (3.x)
            log.warning("[FEATURE FLAGS] Unable to get remote config payload %s: %s", key, exc)
            return None

    def remote_decision(
        self,
        distinct_id: Any,
        groups: Optional[Mapping[str, Any]],
        person_properties: Optional[Mapping[str, Any]],
        group_properties: Optional[Mapping[str, Any]],
        disable_geoip: Optional[bool],
    ) -> FlagsResponse:
        """Ask the server for every flag; errors propagate (3.x client-only helpers)."""
        return self._remote(distinct_id, groups or {}, person_properties, group_properties, disable_geoip)

    # --- events ----------------------------------------------------------------------------
    def _report_called(
        self,
        key: str,
        distinct_id: Any,
        value: FlagValue,
        locally: bool,
        groups: Mapping[str, Any],
        disable_geoip: Optional[bool],
        *,
        remote_flag: Optional[FeatureFlag] = None,
        request_id: Optional[str] = None,
        payload: Any = None,
    ) -> None:
        if not self.called_events.first_time(distinct_id, key, value):
            return
        props: dict[str, Any] = {
            "$feature_flag": key,
            "$feature_flag_response": value,
            "locally_evaluated": locally,
            f"$feature/{key}": value,
        }
        if payload:
            props["$feature_flag_payload"] = payload
        if request_id:
            props["$feature_flag_request_id"] = request_id
        if remote_flag is not None:
            if remote_flag.reason is not None and remote_flag.reason.description:
                props["$feature_flag_reason"] = remote_flag.reason.description
            metadata = remote_flag.metadata
            version = getattr(metadata, "version", None)
            if version:
                props["$feature_flag_version"] = version
            flag_id = getattr(metadata, "id", None)
            if flag_id:
                props["$feature_flag_id"] = flag_id
        try:
            self._client.capture(
                distinct_id, "$feature_flag_called", props, groups=groups or None, disable_geoip=disable_geoip
            )
        except Exception:  # reporting exposure must never break a flag call
            log.debug("could not capture $feature_flag_called", exc_info=True)

    def enrichment(
        self,
        distinct_id: Any,
        event: str,
        groups: Optional[Mapping[str, Any]],
        send_feature_flags: bool,
        disable_geoip: Optional[bool],
    ) -> dict[str, Any]:
        """``$feature/<key>`` and ``$active_feature_flags`` for a capture (a new dict each time)."""
        snapshot = self._snapshot
        if snapshot is None or not snapshot.flags:
            if not send_feature_flags or self.local_only or self._client.disabled:
                return {}
            try:
                response = self._remote(distinct_id, groups or {}, None, None, disable_geoip)
                values = {key: flag.get_value() for key, flag in response["flags"].items()}
            except Exception as exc:  # the capture goes on without flags
                log.warning("[FEATURE FLAGS] Unable to get feature variants: %s", exc)
                return {}
            return flag_properties(values)
        if event == "$feature_flag_called" and not send_feature_flags:
            return {}
        return self._enrichment.properties(snapshot, distinct_id, groups or {})
