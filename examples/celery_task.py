"""Celery: flush each task's events when the task ends, within a deadline.

A worker process may run for days, or be killed without reaching interpreter exit, so do not
rely on the exit hook: wrap the task body in ``posthog.scope_flush``. The client and its thread
are created once per worker process (a forked pool process gets its own: the client is fork-safe) and
reused by every task; the flush only waits for what is queued.

This file does not need Celery: without it, ``process_order`` is a plain function (which is
what a Celery task is, once decorated) and ``python examples/celery_task.py`` runs it against a
fake PostHog on 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import posthog  # noqa: E402

posthog.project_api_key = os.environ.get("POSTHOG_API_KEY", "phc_celery_example")
posthog.host = os.environ.get("POSTHOG_HOST", "https://us.i.posthog.com")


def process_order(order_id: str, user_id: str) -> str:
    """The task body: the events it captures are sent (or logged as pending) before it returns."""
    with posthog.scope_flush(timeout=2):
        posthog.capture(user_id, "order processed", {"order_id": order_id})
        return f"processed {order_id}"


try:  # Celery is optional here: register the task only where it is installed.
    from celery import Celery
except ImportError:
    Celery = None

if Celery is not None:
    app: Any = Celery("shop", broker=os.environ.get("CELERY_BROKER_URL", "memory://"))
    # Equivalent to decorating process_order with @app.task.
    process_order_task = app.task(name="shop.process_order")(process_order)


def main() -> int:
    server = None
    if "POSTHOG_HOST" not in os.environ:
        from posthog.testing import FakePostHog

        server = FakePostHog().start()
        posthog.host = server.url
    try:
        for n in range(3):
            print(process_order(f"order-{n}", "user-1"))
        if server is not None:
            print(f"the fake PostHog received {len(server.events())} event(s)")
    finally:
        posthog.shutdown(timeout=2)
        if server is not None:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
