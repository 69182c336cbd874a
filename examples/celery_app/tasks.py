"""A Celery app whose tasks capture PostHog events for the user who asked for them.

Both sides import this module: the code that sends tasks (a web app, here ``run_demo.py``) and
the worker (``celery -A tasks worker``). The integration is set up once, at import, on both.

- ``CELERY_BROKER_URL`` (default ``filesystem://``: files in ``CELERY_QUEUE_DIR``, no server);
- ``POSTHOG_HOST`` and ``POSTHOG_API_KEY``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

from posthog import Posthog
from posthog.integrations.celery import PosthogCeleryIntegration

QUEUE_DIR = os.environ.get("CELERY_QUEUE_DIR", "celery-queue")
FILESYSTEM = {  # one folder both sides write to and read from
    "data_folder_in": os.path.join(QUEUE_DIR, "messages"),
    "data_folder_out": os.path.join(QUEUE_DIR, "messages"),
    "control_folder": os.path.join(QUEUE_DIR, "control"),
    "polling_interval": 0.1,
}

app = Celery(
    "shop",
    broker=os.environ.get("CELERY_BROKER_URL", "filesystem://"),
    backend=f"file://{os.path.abspath(os.path.join(QUEUE_DIR, 'results'))}",
)
app.conf.update(
    broker_transport_options=FILESYSTEM,
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
)

posthog_client = Posthog(
    os.environ.get("POSTHOG_API_KEY", "phc_celery_demo"),
    host=os.environ.get("POSTHOG_HOST", "https://us.i.posthog.com"),
)
posthog_integration = PosthogCeleryIntegration(client=posthog_client)
posthog_integration.instrument()


@worker_process_shutdown.connect
def flush_posthog(**kwargs: Any) -> None:
    """A prefork pool process ends without running exit hooks: send its events now."""
    posthog_integration.shutdown()
    posthog_client.shutdown()


class CardDeclined(Exception):
    """The payment provider said no."""


@app.task(name="shop.send_welcome_email")
def send_welcome_email(template: str) -> str:
    # No distinct id: the event is about whoever sent the task (its PostHog context).
    posthog_client.capture(event="welcome email sent", properties={"template": template})
    return f"sent {template}"


@app.task(name="shop.charge_card")
def charge_card(amount: int) -> None:
    posthog_client.capture(event="payment attempted", properties={"amount": amount})
    raise CardDeclined(f"card declined for {amount}")


@app.task(name="shop.sync_inventory")
def sync_inventory() -> int:
    # Sent from no context (a cron job, say): a personless event.
    posthog_client.capture(event="inventory synced", properties={"items": 3})
    return 3
