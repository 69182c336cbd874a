"""The fake PostHog's routes: what each request gets, and the ``/_fake/*`` control endpoints."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ._records import (
    _DEFINITIONS_ROUTES,
    _REMOTE_CONFIG,
    FlagsHandler,
    Headers,
    RecordedRequest,
    _Definitions,
    _etag_matches,
    _RemoteFlags,
    _Reply,
)
from .scenarios import Fault, FaultKind, FaultPlan


class Routes:
    """Answers requests from the state :class:`~.server.FakePostHog` keeps (mixed into it)."""

    record: bool
    personal_api_key: str | None
    remote_flags_handler: FlagsHandler | None
    faults: FaultPlan
    _cond: threading.Condition
    _remote: _RemoteFlags
    _definitions: _Definitions
    _remote_config: dict[str, Any]

    if TYPE_CHECKING:  # provided by FakePostHog

        @property
        def requests(self) -> list[RecordedRequest]: ...
        def events(self) -> list[dict[str, Any]]: ...
        def stats(self) -> dict[str, int]: ...
        def wait_for_events(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]: ...
        def reset(self) -> None: ...
        def configure(self, settings: Mapping[str, Any]) -> None: ...
        def clear_faults(self) -> None: ...

    # -- routing (called by the handler threads) ---------------------------------------------------

    def _route(self, method: str, path: str, headers: Headers, parsed: Any, bad_json: bool) -> _Reply:
        route = path.rstrip("/") or "/"
        if method == "POST" and route == "/batch":
            return self._batch_reply(parsed, bad_json)
        if method == "POST" and route in ("/flags", "/decide"):
            if bad_json or not isinstance(parsed, dict):
                return _Reply(400, {"detail": "body must be a JSON object"})
            handler = self.remote_flags_handler
            if handler is not None:
                status, payload = handler(parsed)
                return _Reply(status, payload)
            return _Reply(200, self._flags_payload(parsed))
        if method == "GET" and route in _DEFINITIONS_ROUTES:
            denied = self._check_personal_key(headers)
            if denied is not None:
                return denied
            definitions = self._definitions
            etag_header = {"ETag": definitions.etag}
            if _etag_matches(headers.get("If-None-Match"), definitions.etag):
                return _Reply(304, None, etag_header)
            return _Reply(200, definitions.body, etag_header)
        match = _REMOTE_CONFIG.fullmatch(route)
        if method == "GET" and match is not None:
            denied = self._check_personal_key(headers)
            if denied is not None:
                return denied
            key = unquote(match.group("key"))
            config = self._remote_config
            if key not in config:
                return _Reply(404, {"detail": "Not found."})
            return _Reply(200, config[key])
        return _Reply(404, {"detail": f"fake PostHog has no route {method} {path}"})

    def _batch_reply(self, parsed: Any, bad_json: bool) -> _Reply:
        if bad_json:
            return _Reply(400, {"detail": "Malformed request data"})
        if not isinstance(parsed, dict) or not isinstance(parsed.get("batch"), list):
            return _Reply(400, {"detail": 'body must be an object with a "batch" list'})
        return _Reply(200, {"status": 1})

    def _fault_reply(self, path: str, headers: Headers, fault: Fault) -> _Reply:
        """The answer to a request that matched a FAIL fault."""
        extra = {}
        retry_after = fault.retry_after_header()
        if retry_after is not None:
            extra["Retry-After"] = retry_after
        payload = {"detail": f"fake failure {fault.status}"} if fault.body is None else fault.body
        if isinstance(payload, str):
            payload = payload.encode("utf-8")  # a str body is sent as plain text, not JSON
        return _Reply(fault.status, payload, extra)

    def _check_personal_key(self, headers: Headers) -> _Reply | None:
        key = self.personal_api_key
        if key is None or headers.get("Authorization") == f"Bearer {key}":
            return None
        return _Reply(401, {"type": "authentication_error", "detail": "Invalid personal API key."})

    def _flags_payload(self, body: Mapping[str, Any]) -> dict[str, Any]:
        remote = self._remote
        requested = body.get("flag_keys_to_evaluate")
        wanted = {k for k in requested if isinstance(k, str)} if isinstance(requested, list) else None
        flags: dict[str, Any] = {}
        for index, (key, value) in enumerate(remote.flags.items(), start=1):
            if wanted is not None and key not in wanted:
                continue
            enabled = bool(value)
            if enabled:
                reason = {
                    "code": "condition_match",
                    "condition_index": 0,
                    "description": "Matched condition set 1",
                }
            else:
                reason = {
                    "code": "no_condition_match",
                    "condition_index": None,
                    "description": "No matching condition set",
                }
            metadata = {"id": index, "version": 1, "payload": remote.payloads.get(key), "description": None}
            metadata.update(remote.metadata.get(key, {}))
            flags[key] = {
                "key": key,
                "enabled": enabled,
                "variant": value if isinstance(value, str) and value else None,
                "reason": dict(reason),
                "metadata": metadata,
            }
        return {
            "flags": flags,
            "errorsWhileComputingFlags": remote.errors_while_computing,
            "requestId": remote.request_id,
            "quotaLimited": ["feature_flags"] if remote.quota_limited else [],
        }

    def _control(self, method: str, path: str, query: dict[str, list[str]], parsed: Any) -> _Reply:
        route = path.rstrip("/")
        if method == "GET" and route == "/_fake/requests":
            return _Reply(200, [r.to_dict() for r in self.requests])
        if method == "GET" and route == "/_fake/events":
            return _Reply(200, self.events())
        if method == "GET" and route == "/_fake/stats":
            return _Reply(200, self.stats())
        if method == "GET" and route == "/_fake/wait":
            # Lets another process wait for a count without polling: ?events=N&timeout=S.
            wanted = int(query.get("events", ["0"])[0])
            timeout = float(query.get("timeout", ["5"])[0])
            try:
                self.wait_for_events(wanted, timeout)
            except AssertionError:
                return _Reply(408, self.stats())
            return _Reply(200, self.stats())
        if method == "POST" and route == "/_fake/reset":
            self.reset()
            return _Reply(200, {"ok": True})
        if method == "POST" and route == "/_fake/config":
            if not isinstance(parsed, dict):
                return _Reply(400, {"detail": "config must be a JSON object"})
            try:
                self.configure(parsed)
            except (ValueError, TypeError) as exc:
                return _Reply(400, {"detail": str(exc)})
            return _Reply(200, {"ok": True})
        if method == "POST" and route == "/_fake/fault":
            return self._add_fault(parsed)
        if method == "DELETE" and route == "/_fake/fault":
            self.clear_faults()
            return _Reply(200, {"ok": True})
        return _Reply(404, {"detail": f"unknown control endpoint {method} {path}"})

    def _add_fault(self, parsed: Any) -> _Reply:
        if not isinstance(parsed, dict):
            return _Reply(400, {"detail": "fault must be a JSON object"})
        try:
            kind = FaultKind(parsed.get("kind", "fail"))
            fault = Fault(
                kind,
                str(parsed["path"]),
                status=int(parsed.get("status", 503)),
                body=parsed.get("body"),
                retry_after=parsed.get("retry_after"),
                seconds=float(parsed.get("seconds", 0.0)),
            )
            times = parsed.get("times", None if kind is FaultKind.HANG else 1)
            duration = parsed.get("duration")
            self.faults.add(
                fault,
                None if times is None else int(times),
                duration=None if duration is None else float(duration),
            )
        except (KeyError, ValueError, TypeError) as exc:
            return _Reply(400, {"detail": f"bad fault: {exc!r}"})
        return _Reply(200, {"ok": True})
