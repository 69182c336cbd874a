"""The Celery app run by the tests' worker subprocesses, configured from the environment.

- ``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND``: the test's Redis;
- ``POSTHOG_HOST``: the test's fake PostHog;
- ``POSTHOG_CELERY_OPTIONS``: JSON keyword arguments for ``PosthogCeleryIntegration``.

The worker's client never flushes on its own while tasks run (huge ``flush_interval`` and
``flush_at``): its events reach the fake PostHog only at ``worker_process_shutdown``, through the
recommended pattern below (the integration's ``shutdown()``, then the client's), or, with
``POSTHOG_CELERY_AUTO_FLUSH=1``, through the integration's own receiver alone. Tasks whose name
ends in ``.untracked`` are left alone by ``task_filter``.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

import posthog
from posthog.contexts import get_context_distinct_id, get_context_session_id, get_tags
from posthog.integrations.celery import PosthogCeleryIntegration

# The test sends SIGUSR2 to the worker's process group when results are late: every process
# (the pool's too, forked after this line) then writes its threads' stacks to the log.
faulthandler.register(signal.SIGUSR2, all_threads=True)

app = Celery(
    "posthog_celery_tests",
    broker=os.environ.get("CELERY_BROKER_URL", "memory://"),
    backend=os.environ.get("CELERY_RESULT_BACKEND") or None,
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_default_queue="posthog-tests",
)

client = posthog.Client(
    "phc_celery_worker",
    host=os.environ.get("POSTHOG_HOST", "http://127.0.0.1:9"),
    flush_interval=3600,
    flush_at=100_000,
    max_queue_size=100_000,
)

integration = PosthogCeleryIntegration(
    client=client,
    task_filter=lambda name, task: not name.endswith(".untracked"),
    **json.loads(os.environ.get("POSTHOG_CELERY_OPTIONS") or "{}"),
)
integration.instrument()


def flush_posthog(**kwargs: Any) -> None:
    """A prefork pool process ends with ``os._exit``: no exit hook runs, so flush here."""
    integration.shutdown()
    client.shutdown()


# The recommended pattern; a worker started with POSTHOG_CELERY_AUTO_FLUSH=1 relies on the
# integration's own worker_process_shutdown receiver instead.
if not os.environ.get("POSTHOG_CELERY_AUTO_FLUSH"):
    worker_process_shutdown.connect(flush_posthog, weak=False)


def _seen(label: str, n: int) -> dict[str, Any]:
    """What the task sees of its context; also captured as an event without a distinct id."""
    seen = {
        "distinct_id": get_context_distinct_id(),
        "session_id": get_context_session_id(),
        "tags": get_tags(),
        "pid": os.getpid(),
    }
    client.capture(event="task work", properties={"label": label, "n": n, "pid": os.getpid()})
    return seen


@app.task(name="tests.work")
def work(label: str, n: int) -> dict[str, Any]:
    return _seen(label, n)


@app.task(name="tests.fail")
def fail(label: str, n: int) -> None:
    _seen(label, n)
    raise ValueError(f"boom {label} {n}")


@app.task(name="tests.flaky", bind=True, max_retries=2)
def flaky(self: Any, label: str, n: int) -> dict[str, Any]:
    seen = _seen(label, n)
    if self.request.retries == 0:
        raise self.retry(exc=ConnectionError(f"flaky {label} {n}"), countdown=0)
    return seen


@app.task(name="tests.work.untracked")
def untracked(label: str, n: int) -> dict[str, Any]:
    seen = {
        "distinct_id": get_context_distinct_id(),
        "session_id": get_context_session_id(),
        "tags": get_tags(),
        "pid": os.getpid(),
    }
    client.capture(f"untracked-{label}-{n}", "task work untracked", {"label": label, "n": n})
    return seen
