"""The fake PostHog's capture v1 (``POST /i/v1/analytics/events``) and AI (``POST /i/v0/ai/batch/``) routes.

v1 requests are checked (auth, Content-Type, Content-Encoding, body shape) and answered with per-event
results: ``ok`` for every event unless a scripted :class:`V1Answer` (``script_v1``) or a results function
(``set_v1_results``) says otherwise. The AI endpoint is answered like ``/batch/``. Violations of either
protocol are noted in ``v1_violations`` / ``ai_violations`` whatever the answer.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Final, Optional, Union

from ._records import Headers, RecordedRequest, V1Outcome, _Reply
from ._routes import Routes
from ._v1_checks import AI_ROUTE, DELIVERED, V1_ROUTE, check_ai, check_v1, v1_error_body
from .scenarios import Fault, RetryAfter, path_matches

__all__ = ["CaptureRoutes", "V1Answer", "V1Result", "V1ResultFn", "V1Results"]

V1Result = Union[str, tuple[str, Optional[str]]]
"""One event's result: ``"ok"``, or ``(result, details)`` such as ``("drop", "invalid_event")``."""
V1ResultFn = Callable[[dict[str, Any]], V1Result]
"""Decides one event's result from the event as received."""
V1Results = Union[str, Sequence[Optional[V1Result]], V1ResultFn]
"""One result for every event, a sequence by batch position (None: uuid left out), or a function."""

_ANSWER_KEYS: Final = frozenset({"results", "retry_after", "status", "body"})


def _route_of(path: str) -> str:
    return path.rstrip("/") or "/"


def _retry_after_header(value: RetryAfter) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class V1Answer:
    """How the fake answers one capture v1 request that passed auth and validation.

    ``results``: one result string for every event (``"retry"``), a sequence aligned with the batch
    positions whose items are a result string, a ``(result, details)`` pair or None (uuid left out of
    the map; positions past the end are ``ok``), or a function of the event. ``retry_after`` is sent as
    ``Retry-After``; ``status`` must be 2xx; ``body`` (bytes) replaces the results JSON, and with it or a
    204 no result reaches the client, so no event counts as delivered.
    """

    results: V1Results = "ok"
    retry_after: RetryAfter | None = None
    status: int = 200
    body: bytes | None = None

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 299:
            raise ValueError(f"a V1Answer status must be 2xx, got {self.status}")
        if self.body is not None and not isinstance(self.body, bytes):
            raise TypeError(f"body must be bytes or None, got {type(self.body).__name__}")
        results = self.results
        if not isinstance(results, str) and not callable(results):
            pairs = [None if item is None else _one(item) for item in results]
            object.__setattr__(self, "results", tuple(pairs))

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> V1Answer:
        """Build from ``POST /_fake/v1/answers`` JSON: results as a string or a list of strings,
        ``[result, details]`` pairs and nulls; ``body`` a string sent as UTF-8."""
        unknown = set(document) - _ANSWER_KEYS
        if unknown:
            raise ValueError(f"unknown answer keys: {sorted(unknown)}")
        results = document.get("results", "ok")
        if isinstance(results, list):
            results = [tuple(item) if isinstance(item, list) else item for item in results]
        elif not isinstance(results, str):
            raise ValueError(f"results must be a string or a list, got {results!r}")
        body = document.get("body")
        retry_after = document.get("retry_after")
        if retry_after is not None and (
            isinstance(retry_after, bool) or not isinstance(retry_after, (int, float, str))
        ):
            raise ValueError(f"retry_after must be a number or a string, got {retry_after!r}")
        return cls(
            results=results,
            retry_after=retry_after,
            status=int(document.get("status", 200)),
            body=body.encode("utf-8") if isinstance(body, str) else body,
        )

    def outcomes(self, batch: Sequence[dict[str, Any]]) -> tuple[V1Outcome, ...]:
        """``(uuid, result or None, details)`` for each event of ``batch``, in order."""
        results = self.results
        pairs: list[tuple[str | None, str | None]]
        if isinstance(results, str):
            pairs = [(results, None)] * len(batch)
        elif callable(results):
            pairs = [_one(results(dict(event))) for event in batch]
        else:
            scripted = list(results)
            pairs = [_one(scripted[i]) if i < len(scripted) else ("ok", None) for i in range(len(batch))]
        return tuple((event["uuid"], result, details) for event, (result, details) in zip(batch, pairs))


def _one(value: object) -> tuple[str | None, str | None]:
    if value is None or isinstance(value, str):
        return value, None
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and (value[1] is None or isinstance(value[1], str))
    ):
        return value[0], value[1]
    raise TypeError(f"a v1 result is a string, a (result, details) pair or None, got {value!r}")


class CaptureRoutes(Routes):
    """Capture v1 and AI endpoint routes and their state (mixed into FakePostHog)."""

    def __init__(self) -> None:
        super().__init__()
        self._v1_answers: deque[V1Answer] = deque()
        self._v1_results_fn: V1ResultFn | None = None
        self._v1_violations: list[str] = []
        self._ai_violations: list[str] = []
        self._seen = {V1_ROUTE: 0, AI_ROUTE: 0}
        # The handler thread's last v1 check (parsed body, violations): recording reuses it
        # rather than checking every event of the request a second time.
        self._v1_checked = threading.local()

    # -- scripting ---------------------------------------------------------------------------------

    def script_v1(self, *answers: V1Answer) -> None:
        """Queue answers for the next v1 requests that pass auth and validation, one each (FIFO)."""
        for answer in answers:
            if not isinstance(answer, V1Answer):
                raise TypeError(f"script_v1 takes V1Answer objects, got {answer!r}")
        with self._cond:
            self._v1_answers.extend(answers)

    def set_v1_results(self, fn: V1ResultFn | None) -> None:
        """Decide each event's result with ``fn(event)`` when no scripted answer is queued; None: all ok."""
        with self._cond:
            self._v1_results_fn = fn

    def pending_v1_answers(self) -> int:
        """Scripted v1 answers not used yet."""
        with self._cond:
            return len(self._v1_answers)

    def _forget_v1_script(self) -> None:
        with self._cond:
            self._v1_answers.clear()
            self._v1_results_fn = None

    def _next_v1_answer(self) -> V1Answer:
        with self._cond:
            if self._v1_answers:
                return self._v1_answers.popleft()
            return V1Answer(self._v1_results_fn or "ok")

    # -- recordings --------------------------------------------------------------------------------

    @property
    def v1_violations(self) -> list[str]:
        """Capture v1 protocol violations noticed so far (``"v1 request <n>: <problem>"``)."""
        with self._cond:
            return list(self._v1_violations)

    @property
    def ai_violations(self) -> list[str]:
        """AI endpoint protocol violations noticed so far (``"ai request <n>: <problem>"``)."""
        with self._cond:
            return list(self._ai_violations)

    def v1_events(self) -> list[dict[str, Any]]:
        """Events of v1 requests answered ``ok`` or ``warning``, in arrival order."""
        return [e for r in self.requests if _route_of(r.path) == V1_ROUTE for e in _delivered(r)]

    def ai_events(self) -> list[dict[str, Any]]:
        """Messages of the AI endpoint batches that were accepted (answered 200), in arrival order."""
        return [e for r in self.requests if _route_of(r.path) == AI_ROUTE for e in _delivered(r)]

    def v1_results_log(self) -> list[list[tuple[str, str]]]:
        """For each recorded v1 request, the ``(uuid, result)`` pairs the fake answered, in batch order.

        Requests answered without a results map (rejected, faulted, raw body, 204) give ``[]``.
        """
        return [
            [(uuid, result) for uuid, result, _ in r.v1_results or () if result is not None]
            for r in self.requests
            if _route_of(r.path) == V1_ROUTE
        ]

    def _capture_events(self, request: RecordedRequest) -> list[dict[str, Any]]:
        return _delivered(request)

    def _note_capture(self, request: RecordedRequest) -> None:
        """Note the violations of a v1 or AI request, whatever it was answered (faults included)."""
        route = _route_of(request.path)
        if request.method != "POST" or route not in (V1_ROUTE, AI_ROUTE):
            return
        undecodable = request.json is None and bool(request.body.strip())
        checked = getattr(self._v1_checked, "last", None)
        self._v1_checked.last = None
        if (
            route == V1_ROUTE
            and checked is not None
            and checked[0] is request.json
            and request.json is not None
        ):
            problems = checked[1]
        elif route == V1_ROUTE:
            problems = check_v1(request.headers, request.json, undecodable)[1]
        else:
            problems = check_ai(request.headers, request.json, undecodable)
        with self._cond:
            self._seen[route] += 1
            label = f"{'v1' if route == V1_ROUTE else 'ai'} request {self._seen[route]}"
            target = self._v1_violations if route == V1_ROUTE else self._ai_violations
            target.extend(f"{label}: {problem}" for problem in problems)

    def _forget_capture(self) -> None:
        with self._cond:
            self._v1_violations = []
            self._ai_violations = []
            self._seen = dict.fromkeys(self._seen, 0)

    # -- routing -----------------------------------------------------------------------------------

    def _route(self, method: str, path: str, headers: Headers, parsed: Any, bad_json: bool) -> _Reply:
        route = _route_of(path)
        if method == "POST" and route == V1_ROUTE:
            return self._v1_reply(headers, parsed, bad_json)
        if method == "POST" and route == AI_ROUTE:
            return self._batch_reply(parsed, bad_json)
        return super()._route(method, path, headers, parsed, bad_json)

    def _v1_reply(self, headers: Headers, parsed: Any, bad_json: bool) -> _Reply:
        echo = (
            {"PostHog-Request-Id": headers["PostHog-Request-Id"]} if "PostHog-Request-Id" in headers else {}
        )
        rejection, problems = check_v1(headers, parsed, bad_json)
        self._v1_checked.last = (parsed, problems)
        if rejection is not None:
            body = v1_error_body(rejection.status, rejection.description, rejection.error)
            return _Reply(rejection.status, body, echo)
        answer = self._next_v1_answer()
        outcomes = answer.outcomes(parsed["batch"])
        extra = dict(echo)
        if answer.retry_after is not None:
            extra["Retry-After"] = _retry_after_header(answer.retry_after)
        if answer.body is not None or answer.status == 204:
            return _Reply(answer.status, answer.body, extra)
        results: dict[str, dict[str, str]] = {}
        for uuid, result, details in outcomes:
            if result is not None:
                results[uuid] = (
                    {"result": result} if details is None else {"result": result, "details": details}
                )
        return _Reply(answer.status, {"results": results}, extra, v1_results=outcomes)

    def _fault_reply(self, path: str, headers: Headers, fault: Fault) -> _Reply:
        if _route_of(path) != V1_ROUTE or fault.body is not None:
            return super()._fault_reply(path, headers, fault)
        extra = (
            {"PostHog-Request-Id": headers["PostHog-Request-Id"]} if "PostHog-Request-Id" in headers else {}
        )
        retry_after = fault.retry_after_header()
        if retry_after is not None:
            extra["Retry-After"] = retry_after
        return _Reply(fault.status, v1_error_body(fault.status, f"fake failure {fault.status}"), extra)

    def _control(self, method: str, path: str, query: dict[str, list[str]], parsed: Any) -> _Reply:
        route = path.rstrip("/")
        if route == "/_fake/v1/answers" and method == "POST":
            items = parsed.get("answers") if isinstance(parsed, dict) else parsed
            if not isinstance(items, list):
                return _Reply(400, {"detail": 'send {"answers": [...]} or a list of answers'})
            try:
                self.script_v1(*(V1Answer.from_json(item) for item in items))
            except (ValueError, TypeError, AttributeError) as exc:
                return _Reply(400, {"detail": f"bad v1 answer: {exc}"})
            return _Reply(200, {"ok": True, "pending": self.pending_v1_answers()})
        if route == "/_fake/v1/answers" and method == "DELETE":
            self._forget_v1_script()
            return _Reply(200, {"ok": True})
        if route == "/_fake/capture" and method == "GET":
            return _Reply(
                200,
                {
                    "v1_results": self.v1_results_log(),
                    "v1_violations": self.v1_violations,
                    "v1_events": self.v1_events(),
                    "ai_violations": self.ai_violations,
                    "ai_events": self.ai_events(),
                },
            )
        return super()._control(method, path, query, parsed)


def accepted_events(path: str, status: int, parsed: Any, v1_results: tuple[V1Outcome, ...] | None) -> int:
    """Events a routed request delivered, or -1 when it is not an accepted ingestion request."""
    if status == 200 and (path_matches("/batch", path) or _route_of(path) == AI_ROUTE):
        return len(parsed["batch"])
    if v1_results is not None and _route_of(path) == V1_ROUTE:
        return sum(1 for _, result, _ in v1_results if result in DELIVERED)
    return -1


def _delivered(request: RecordedRequest) -> list[dict[str, Any]]:
    route = _route_of(request.path)
    body = request.json
    if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
        return []
    if route == AI_ROUTE and request.status == 200:
        return list(body["batch"])
    if route == V1_ROUTE and request.v1_results is not None:
        outcomes = request.v1_results
        return [event for event, (_, result, _) in zip(body["batch"], outcomes) if result in DELIVERED]
    return []
