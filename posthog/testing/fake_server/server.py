"""A PostHog-compatible HTTP server on 127.0.0.1 that records what the SDK sends (tests, demo, bench).

Routes (trailing slash optional, query ignored for routing): ``POST /batch/``, ``POST /flags/`` and
``POST /decide/``, ``GET /api/feature_flag/local_evaluation/`` (ETag / 304),
``GET /api/projects/<id>/feature_flags/<key>/remote_config/``, capture v1 ``POST /i/v1/analytics/events``
and the AI endpoint ``POST /i/v0/ai/batch/`` (see _capture_v1.py), and the ``/_fake/*`` control endpoints
that let another process configure the server and read what it received:

- ``GET /_fake/stats``, ``GET /_fake/wait?events=N&timeout=S``, ``GET /_fake/requests``,
  ``GET /_fake/events`` (messages of the accepted batches; needs recording on);
- ``POST /_fake/reset``, ``POST /_fake/config``;
- ``POST /_fake/fault`` (``{"kind", "path", "status", "body", "retry_after", "seconds", "times",
  "duration"}``; ``"times": null`` = until cleared, ``"duration"`` = for that many seconds) and
  ``DELETE /_fake/fault`` (forget every fault and delay, keep the recordings);
- ``POST /_fake/v1/answers`` (``{"answers": [{"results", "retry_after", "status", "body"}]}``: queue v1
  answers, results as a string or a list of strings, ``[result, details]`` pairs and nulls),
  ``DELETE /_fake/v1/answers`` and ``GET /_fake/capture`` (v1 results log, violations, v1 and AI events).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Callable

from ._capture_v1 import CaptureRoutes
from ._http import _HTTPServer
from ._records import (
    _JOIN_DEADLINE,
    HOST,
    FlagsHandler,
    FlagValue,
    RecordedRequest,
    _Definitions,
    _encode_payload,
    _RemoteFlags,
)
from .scenarios import Fault, FaultKind, FaultPlan, RetryAfter, path_matches


class FakePostHog(CaptureRoutes):
    """PostHog-compatible server on 127.0.0.1:<random port>, stopped by close() or after max_lifetime."""

    def __init__(
        self,
        *,
        port: int = 0,
        record: bool = True,
        max_lifetime: float | None = 600.0,
        personal_api_key: str | None = None,
    ) -> None:
        super().__init__()
        self.record = record
        self.personal_api_key = personal_api_key
        self.remote_flags_handler: FlagsHandler | None = None
        self.faults = FaultPlan()
        self.handler_errors: list[str] = []
        self._port = port
        self._max_lifetime = max_lifetime
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._counts = {"events": 0, "batches": 0, "requests": 0}
        self._connections = 0
        self._remote = _RemoteFlags()
        self._definitions = _Definitions.of({"flags": [], "group_type_mapping": {}, "cohorts": {}})
        self._remote_config: dict[str, Any] = {}
        self._closing = threading.Event()
        self._closed = threading.Event()
        self._close_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._serve_thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakePostHog:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("FakePostHog already started")
        self._httpd = _HTTPServer(self, self._port)
        self._serve_thread = threading.Thread(target=self._serve, name="fake-posthog.serve", daemon=True)
        self._serve_thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close every socket; returns within about a second."""
        self._closing.set()
        with self._close_lock:
            httpd = self._httpd
            if httpd is None or self._closed.is_set():
                self._closed.set()
                return
            serve = self._serve_thread
            if serve is not None and serve is not threading.current_thread():
                serve.join(_JOIN_DEADLINE)
            threads = httpd.abort_connections()
            httpd.server_close()
            deadline = time.monotonic() + _JOIN_DEADLINE
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join(max(0.0, deadline - time.monotonic()))
            self._closed.set()
        with self._cond:
            self._cond.notify_all()

    def __enter__(self) -> FakePostHog:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _serve(self) -> None:
        httpd = self._httpd
        assert httpd is not None
        deadline = None if self._max_lifetime is None else time.monotonic() + self._max_lifetime
        while not self._closing.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                # Lifetime over: a forgotten server must not outlive its test run.
                self.close()
                return
            httpd.handle_request()  # returns after one connection or httpd.timeout

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakePostHog not started")
        return self._httpd.server_address[1]

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        with self._cond:
            return self._connections

    # -- configuration -----------------------------------------------------------------------------

    def set_remote_flags(
        self,
        flags: Mapping[str, FlagValue],
        *,
        payloads: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        errors_while_computing: bool = False,
        quota_limited: bool = False,
        metadata: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Configure what /flags and /decide answer; a value is a bool or a variant name.

        Payloads that are not strings are JSON-encoded; ``metadata`` overrides per-flag
        ``{id, version, payload, description}`` (ids default to the 1-based position, versions to 1).
        """
        self._remote = _RemoteFlags(
            flags=dict(flags),
            payloads={key: _encode_payload(value) for key, value in (payloads or {}).items()},
            metadata={key: dict(value) for key, value in (metadata or {}).items()},
            request_id=request_id,
            errors_while_computing=errors_while_computing,
            quota_limited=quota_limited,
        )

    def set_flag_definitions(self, definitions: Mapping[str, Any]) -> None:
        """Set the local_evaluation body (``{"flags", "group_type_mapping", "cohorts"}``), served as is."""
        self._definitions = _Definitions.of(dict(definitions))

    @property
    def definitions_etag(self) -> str:
        return self._definitions.etag

    def set_remote_config(self, key: str, value: Any) -> None:
        """Serve ``value`` as the JSON body of the remote_config endpoint for ``key``."""
        self._remote_config = {**self._remote_config, key: value}

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Apply a ``POST /_fake/config`` document; unknown keys raise ValueError."""
        known = {
            "flag_definitions",
            "remote_flags",
            "payloads",
            "request_id",
            "errors_while_computing",
            "quota_limited",
            "personal_api_key",
            "remote_config",
            "record",
        }
        unknown = set(settings) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "flag_definitions" in settings:
            self.set_flag_definitions(settings["flag_definitions"])
        remote_keys = {"remote_flags", "payloads", "request_id", "errors_while_computing", "quota_limited"}
        if remote_keys & set(settings):
            current = self._remote
            self.set_remote_flags(
                settings.get("remote_flags", current.flags),
                payloads=settings.get("payloads", current.payloads),
                request_id=settings.get("request_id", current.request_id),
                errors_while_computing=bool(
                    settings.get("errors_while_computing", current.errors_while_computing)
                ),
                quota_limited=bool(settings.get("quota_limited", current.quota_limited)),
                metadata=current.metadata,
            )
        if "personal_api_key" in settings:
            self.personal_api_key = settings["personal_api_key"]
        if "remote_config" in settings:
            self._remote_config = dict(settings["remote_config"])
        if "record" in settings:
            self.record = bool(settings["record"])

    # -- faults (see scenarios.py) -----------------------------------------------------------------

    def fail_next(
        self,
        path: str,
        times: int = 1,
        status: int = 503,
        body: Any = None,
        retry_after: RetryAfter | None = None,
    ) -> None:
        """Answer the next ``times`` requests under ``path`` with ``status``.

        ``body``: None (``{"detail": ...}``), str or bytes (sent as is), anything else JSON-encoded.
        """
        self.faults.add(Fault(FaultKind.FAIL, path, status=status, body=body, retry_after=retry_after), times)

    def fail_for(
        self,
        path: str,
        seconds: float,
        status: int = 503,
        body: Any = None,
        retry_after: RetryAfter | None = None,
    ) -> None:
        """Answer every request under ``path`` with ``status`` for the next ``seconds`` seconds."""
        fault = Fault(FaultKind.FAIL, path, status=status, body=body, retry_after=retry_after)
        self.faults.add(fault, None, duration=seconds)

    def clear_faults(self) -> None:
        """Forget every scripted fault and persistent delay; recordings and counters stay."""
        self.faults.clear()

    def drop_next(self, path: str, times: int = 1) -> None:
        """Read the next ``times`` requests under ``path``, then close the connection without answering."""
        self.faults.add(Fault(FaultKind.DROP, path), times)

    def delay_next(self, path: str, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` before answering the next ``times`` requests under ``path``."""
        self.faults.add(Fault(FaultKind.DELAY, path, seconds=seconds), times)

    def set_delay(self, path: str, seconds: float) -> None:
        """Delay every request under ``path`` until changed; 0 removes it."""
        self.faults.set_delay(path, seconds)

    def hang(self, path: str, times: int | None = None) -> None:
        """Never answer requests under ``path`` (all of them by default) until the server closes."""
        self.faults.add(Fault(FaultKind.HANG, path), times)

    # -- recordings --------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of the recorded requests, in arrival order (control requests excluded)."""
        with self._cond:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Recorded requests whose path is ``path`` or lies under it."""
        return [r for r in self.requests if path_matches(path, r.path)]

    def batches(self) -> list[dict[str, Any]]:
        """Parsed bodies of the /batch/ requests that were accepted (answered 200)."""
        return [r.json for r in self.requests if r.status == 200 and path_matches("/batch", r.path)]

    def events(self) -> list[dict[str, Any]]:
        """Delivered events in arrival order: messages of accepted /batch/ and AI batches, and v1 events
        answered ``ok`` or ``warning``."""
        delivered: list[dict[str, Any]] = []
        for r in self.requests:
            if r.status == 200 and path_matches("/batch", r.path):
                delivered.extend(r.json["batch"])
            else:
                delivered.extend(self._capture_events(r))
        return delivered

    def stats(self) -> dict[str, int]:
        """``{"events", "batches", "requests"}`` counters (delivered events and accepted batches of every
        ingestion endpoint, as in events()); kept even when not recording."""
        with self._cond:
            return dict(self._counts)

    def wait_for_events(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``n`` events were accepted; return ``events()`` (empty if not recording)."""
        self._wait(lambda: self._counts["events"] >= n, timeout, f"at least {n} events")
        return self.events()

    def wait_for_requests(self, path: str, n: int = 1, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``n`` requests under ``path`` were recorded; return them."""

        def enough() -> bool:
            return sum(1 for r in self._requests if path_matches(path, r.path)) >= n

        self._wait(enough, timeout, f"at least {n} requests to {path}")
        return self.requests_to(path)

    def _wait(self, predicate: Callable[[], bool], timeout: float, wanted: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed.is_set():
                    state = "server closed" if self._closed.is_set() else f"{timeout}s elapsed"
                    paths = [r.path for r in self._requests[-10:]]
                    raise AssertionError(
                        f"fake PostHog: expected {wanted} ({state}); stats={self._counts}, last paths={paths}"
                    )
                self._cond.wait(remaining)

    def clear(self) -> None:
        """Forget recorded requests and noticed violations, and reset the counters."""
        with self._cond:
            self._requests = []
            self._counts = dict.fromkeys(self._counts, 0)
            self._forget_capture()
            self._cond.notify_all()

    def reset(self) -> None:
        """clear() plus forgetting every fault, scripted v1 answer and v1 results function; configuration
        stays."""
        self.clear()
        self.faults.clear()
        self._forget_v1_script()

    def _record(self, request: RecordedRequest, events: int = -1) -> None:
        """Keep ``request``; ``events`` >= 0: it was an accepted ingestion request delivering that many."""
        self._note_capture(request)
        with self._cond:
            self._counts["requests"] += 1
            if events >= 0:
                self._counts["batches"] += 1
                self._counts["events"] += events
            if self.record:
                self._requests.append(request)
            self._cond.notify_all()

    def _count_connection(self) -> None:
        with self._cond:
            self._connections += 1
