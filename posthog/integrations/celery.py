"""PostHog contexts carried from the code that sends a Celery task to the worker that runs it.

    posthog_client = Posthog("phc_...", host="https://us.i.posthog.com")
    integration = PosthogCeleryIntegration(client=posthog_client)
    integration.instrument()  # where the Celery app is defined: producers and workers import it


    @worker_process_shutdown.connect
    def flush_posthog(**kwargs):  # a prefork pool process exits without interpreter exit hooks
        integration.shutdown()
        posthog_client.shutdown()

- Producer: the current context's distinct id, session id and tags go into the task message's
  headers ``X-POSTHOG-DISTINCT-ID``, ``X-POSTHOG-SESSION-ID`` and ``X-POSTHOG-CONTEXT-TAGS`` (JSON;
  tags JSON cannot carry are left out; a header already there, given to ``apply_async`` or copied
  by a retry, is kept). ``celery task published`` is captured once the broker took the message.
- Worker: each task runs in a fresh context made from those headers (an eager task, run in its
  caller, inherits the caller's context instead), so events captured in the task carry the
  producer's ids and tags, and a task sent from no context gives personless events. The worker
  captures ``celery task started``, ``success``, ``failure`` and ``retry``, and a failing task's
  exception once as ``$exception``.

Every event has ``celery_task_id``, ``celery_task_name``, ``celery_state``, ``celery_exchange``,
``celery_routing_key``, ``celery_queue``, ``celery_retry_count`` and ``celery_version``; the worker's
also ``celery_hostname`` (the worker's node name); success and failure ``celery_task_duration_ms``;
failure and retry ``error_type`` and ``error_message``; retry ``celery_reason``. A property Celery
does not know is left out. Nothing here ever changes what a task returns or raises, or stops a
message from being sent: errors are logged on the ``posthog`` logger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, cast

try:
    import celery
    from celery import signals
except ImportError as e:  # the optional dependency is missing
    raise ImportError("Celery not installed; pip install 'posthog[celery]'") from e

from .. import contexts
from .._fork import on_fork_in_child
from ..contexts import _MARK, identify_context, new_context, set_context_session, tag
from ._celery_messages import (
    DISTINCT_ID_HEADER,
    SESSION_ID_HEADER,
    TAGS_HEADER,
    clean_id,
    context_headers,
    error_properties,
    header_from_request,
    published_properties,
    tags_from_header,
    text,
    worker_properties,
)

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["PosthogCeleryIntegration", "TaskFilter"]

log = logging.getLogger("posthog")

#: ``task_filter(task_name, task) -> bool``, asked on each side: before a message is published
#: (``task`` is the task registered under that name in ``celery.current_app``, or None, e.g. for
#: ``send_task`` of a task this process does not define) and before a worker runs it (``task`` is
#: the ``celery.Task``). False leaves it alone there: no headers, no context, no events. A filter
#: that raises is logged once (a warning) and the task is tracked.
TaskFilter = Callable[[str, Optional[Any]], bool]

_VERSION = str(getattr(celery, "__version__", "unknown"))


@dataclass
class _Running:
    """A task the worker is running inside a context of ours."""

    context: AbstractContextManager[Any]
    task: Any
    request: Any
    started: float
    thread: int


class PosthogCeleryIntegration:
    """Carry PostHog contexts into Celery tasks and capture their lifecycle events.

    Call :meth:`instrument` in the producer and in the worker (e.g. where the app is defined),
    and :meth:`shutdown` in ``worker_process_shutdown`` before the client's ``shutdown()``.

    ``client``: a ``posthog.Client``; None uses the module's default client (``posthog.api_key``).
    ``capture_exceptions``: a failing task's exception as ``$exception``.
    ``capture_task_lifecycle_events``: ``celery task published/started/success/failure/retry``.
    ``propagate_context``: write the producer's context into the headers, and read it back.
    ``task_filter``: see :data:`TaskFilter`.
    """

    def __init__(
        self,
        client: Optional[Client] = None,
        capture_exceptions: bool = True,
        capture_task_lifecycle_events: bool = True,
        propagate_context: bool = True,
        task_filter: Optional[TaskFilter] = None,
    ) -> None:
        self.client = client
        self.capture_exceptions = capture_exceptions
        self.capture_task_lifecycle_events = capture_task_lifecycle_events
        self.propagate_context = propagate_context
        self.task_filter = task_filter
        self._instrumented = False
        self._filter_failed = False
        self._running: dict[str, _Running] = {}
        self._publishing = threading.local()  # before_task_publish -> after_task_publish, one thread
        on_fork_in_child(self._after_fork)

    # -- set-up -----------------------------------------------------------------------------------

    def _receivers(self) -> list[tuple[Any, Callable[..., None]]]:
        return [
            (signals.before_task_publish, self._before_publish),
            (signals.after_task_publish, self._after_publish),
            (signals.task_prerun, self._prerun),
            (signals.task_success, self._success),
            (signals.task_failure, self._failure),
            (signals.task_retry, self._retry),
            (signals.task_postrun, self._postrun),
            (signals.worker_process_shutdown, self._process_shutdown),
        ]

    def _uid(self, signal: Any) -> str:
        return f"posthog-celery-{id(self)}-{signal.name}"

    def instrument(self) -> None:
        """Connect to Celery's signals (idempotent)."""
        if self._instrumented:
            return
        for signal, receiver in self._receivers():
            signal.connect(receiver, weak=False, dispatch_uid=self._uid(signal))
        self._instrumented = True

    def uninstrument(self) -> None:
        """Disconnect this integration's receivers, and only them (idempotent)."""
        if not self._instrumented:
            return
        for signal, receiver in self._receivers():
            signal.disconnect(receiver, dispatch_uid=self._uid(signal))
        self._instrumented = False
        for task_id in list(self._running):  # the contexts this thread opened; others are dropped
            running = self._running.pop(task_id, None)
            if running is not None and running.thread == threading.get_ident():
                self._close(running)

    def shutdown(self, timeout: Optional[float] = None) -> None:
        """Uninstrument, then send the client's queued events (the client keeps running).

        Call it in ``worker_process_shutdown``, before the client's ``shutdown()``. Idempotent.
        """
        try:
            self.uninstrument()
            client = self._client()
            if client is not None:
                client.flush(timeout)
        except Exception:
            log.warning("PostHog Celery integration: error during shutdown", exc_info=True)

    def _process_shutdown(self, **_: Any) -> None:
        """``worker_process_shutdown``: a prefork pool process ends with ``os._exit``, which skips
        the interpreter's exit hooks, so send what it queued now (within the flush deadline)."""
        try:
            client = self._client()
            if client is not None:
                # bounded like an interpreter exit: a PostHog that is down delays the pool's stop
                # by at most the client's shutdown_timeout
                pipeline = getattr(client, "_dispatcher", None)
                client.flush(timeout=float(getattr(pipeline, "shutdown_timeout", 5.0)))
        except Exception:
            log.warning("PostHog Celery integration: could not flush at process shutdown", exc_info=True)

    def _after_fork(self) -> None:
        # Contexts opened by the parent's other threads do not exist in a forked child.
        self._running = {}
        self._publishing = threading.local()

    def _client(self) -> Optional[Client]:
        if self.client is not None:
            return self.client
        return cast("Optional[Client]", contexts.default_client_lookup())

    def _tracked(self, name: Any, task: Any) -> bool:
        if self.task_filter is None:
            return True
        try:
            return bool(self.task_filter(str(name), task))
        except Exception:  # a broken filter must not break tasks: they are tracked
            if not self._filter_failed:
                self._filter_failed = True
                log.warning("PostHog task_filter raised; such tasks are tracked", exc_info=True)
            return True

    def _capture(self, event: str, props: Mapping[str, Any]) -> None:
        client = self._client()
        if client is not None:
            client.capture(event=event, properties=props)

    # -- producer ---------------------------------------------------------------------------------

    def _before_publish(self, sender: Any = None, headers: Any = None, **signal: Any) -> None:
        try:
            self._publishing.pending = None
            name = str(sender)
            if self.task_filter is not None and not self._tracked(name, _registered_task(name)):
                return
            if self.propagate_context and isinstance(headers, dict):
                for header, value in context_headers().items():
                    headers.setdefault(header, value)  # given to apply_async, or copied by a retry
            if self.capture_task_lifecycle_events:
                props = published_properties(name, headers or {}, signal, _VERSION)
                self._publishing.pending = (props.get("celery_task_id"), props)
        except Exception:
            log.warning("PostHog Celery integration: error before publishing a task", exc_info=True)

    def _after_publish(self, sender: Any = None, headers: Any = None, body: Any = None, **_: Any) -> None:
        """``celery task published``: after the broker took the message, in the producer's context."""
        try:
            pending = getattr(self._publishing, "pending", None)
            self._publishing.pending = None
            if pending is None or not self.capture_task_lifecycle_events:
                return
            task_id, props = pending
            sent_id = (headers or {}).get("id") or (body.get("id") if isinstance(body, Mapping) else None)
            if sent_id != task_id:
                return
            with new_context(fresh=False, capture_exceptions=False, client=self._client()):
                self._capture("celery task published", props)
        except Exception:
            log.warning("PostHog Celery integration: error after publishing a task", exc_info=True)

    # -- worker -----------------------------------------------------------------------------------

    def _prerun(self, sender: Any = None, task_id: Any = None, task: Any = None, **_: Any) -> None:
        try:
            self._close_stale()
            task = task if task is not None else sender
            if task is None or task_id is None or not self._tracked(task.name, task):
                return
            request = task.request
            eager = bool(getattr(request, "is_eager", False))
            context = new_context(fresh=not eager, capture_exceptions=False, client=self._client())
            context.__enter__()
            self._running[str(task_id)] = _Running(
                context, task, request, time.monotonic(), threading.get_ident()
            )
            if self.propagate_context:
                self._open_from_headers(request)
            if self.capture_task_lifecycle_events:
                self._capture("celery task started", worker_properties(task, request, "STARTED", _VERSION))
        except Exception:
            log.warning("PostHog Celery integration: error before a task ran", exc_info=True)

    def _open_from_headers(self, request: Any) -> None:
        identify_context(clean_id(header_from_request(request, DISTINCT_ID_HEADER)))
        set_context_session(clean_id(header_from_request(request, SESSION_ID_HEADER)))
        for name, value in tags_from_header(header_from_request(request, TAGS_HEADER)).items():
            tag(name, value)

    def _close_stale(self) -> None:
        """Close this thread's contexts whose task ended without ``task_postrun``.

        A task still on its request stack is running (an eager task's caller): its context stays.
        """
        thread = threading.get_ident()
        for task_id, running in reversed(list(self._running.items())):
            if running.thread != thread:
                continue
            if _still_running(running):
                return
            self._running.pop(task_id, None)
            self._close(running)

    def _close(self, running: _Running) -> None:
        try:
            running.context.__exit__(None, None, None)
        except Exception:  # e.g. closed in another contextvars context than it was opened in
            log.debug("could not close a Celery task's PostHog context", exc_info=True)

    def _ended(self, task_id: Any, request: Any, state: str, **extra: Any) -> None:
        running = self._running.get(str(task_id))
        if running is None or not self.capture_task_lifecycle_events:
            return
        props = worker_properties(running.task, request, state, _VERSION)
        if state != "RETRY":
            props["celery_task_duration_ms"] = round((time.monotonic() - running.started) * 1000, 3)
        props.update(extra)
        self._capture(f"celery task {state.lower()}", props)

    def _success(self, sender: Any = None, **_: Any) -> None:
        try:
            request = sender.request
            self._ended(request.id, request, "SUCCESS")
        except Exception:
            log.warning("PostHog Celery integration: error after a task succeeded", exc_info=True)

    def _failure(self, sender: Any = None, task_id: Any = None, exception: Any = None, **_: Any) -> None:
        try:
            running = self._running.get(str(task_id))
            if running is None:  # not ours, or reported by the main process (e.g. a lost pool process)
                return
            self._ended(task_id, running.request, "FAILURE", **error_properties(exception))
            if self.capture_exceptions and isinstance(exception, BaseException):
                self._capture_exception(exception)
        except Exception:
            log.warning("PostHog Celery integration: error after a task failed", exc_info=True)

    def _capture_exception(self, exc: BaseException) -> None:
        if getattr(exc, _MARK, False):
            return
        client = self._client()
        if client is not None:
            client.capture_exception(exc)
            try:
                setattr(exc, _MARK, True)
            except Exception:  # an exception type without a __dict__
                pass

    def _retry(self, sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
        try:
            if request is not None:
                error = getattr(reason, "exc", None) or reason  # Retry.exc: what the task caught
                extra = {**error_properties(error), "celery_reason": text(reason)}
                self._ended(request.id, request, "RETRY", **extra)
        except Exception:
            log.warning("PostHog Celery integration: error after a task asked for a retry", exc_info=True)

    def _postrun(self, sender: Any = None, task_id: Any = None, **_: Any) -> None:
        try:
            running = self._running.pop(str(task_id), None)
            if running is not None:
                self._close(running)
        except Exception:
            log.warning("PostHog Celery integration: error after a task ran", exc_info=True)


def _registered_task(name: str) -> Any:
    """The producer's registered task called ``name``, or None."""
    try:
        return celery.current_app.tasks.get(name)
    except Exception:
        return None


def _still_running(running: _Running) -> bool:
    try:
        return any(request is running.request for request in running.task.request_stack.stack)
    except Exception:  # when in doubt, leave the context open
        return True
