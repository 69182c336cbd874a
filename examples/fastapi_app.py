"""FastAPI with ``posthog.AsyncPosthog``: one client per app, made and shut down by the lifespan.

Flag checks are awaited, so a request waiting on PostHog's ``/flags`` does not hold up the
others; ``capture()`` only queues (no I/O) and the client's asyncio task sends the events. The
``shutdown()`` at the end of the lifespan delivers what is still queued when the server stops.

Run it from the repository root (needs ``pip install fastapi uvicorn 'posthog[async]'``)::

    POSTHOG_PROJECT_API_KEY=phc_... POSTHOG_HOST=https://us.i.posthog.com \\
        uvicorn examples.fastapi_app:app
    curl http://127.0.0.1:8000/checkout/ada

or against the fake PostHog, which prints its URL (``FAKE_POSTHOG_URL=http://127.0.0.1:<port>``)::

    python -m posthog.testing.fake_server &
    curl -X POST <url>/_fake/config -d '{"remote_flags": {"new-checkout": true}}'
    POSTHOG_PROJECT_API_KEY=phc_demo POSTHOG_HOST=<url> uvicorn examples.fastapi_app:app
    curl http://127.0.0.1:8000/checkout/ada    # then: curl <url>/_fake/events

With ``POSTHOG_PERSONAL_API_KEY`` set, flags are evaluated locally from definitions polled in the
background, and the route no longer waits for ``/flags``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from posthog import AsyncPosthog


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One client for the whole app; its shutdown flushes the events still queued."""
    posthog = AsyncPosthog(
        os.environ["POSTHOG_PROJECT_API_KEY"],
        host=os.environ.get("POSTHOG_HOST", "https://us.i.posthog.com"),
        personal_api_key=os.environ.get("POSTHOG_PERSONAL_API_KEY") or None,
    )
    app.state.posthog = posthog
    try:
        yield
    finally:
        await posthog.shutdown()


app = FastAPI(lifespan=lifespan)


@app.get("/checkout/{user_id}")
async def checkout(user_id: str, request: Request) -> dict[str, Any]:
    posthog: AsyncPosthog = request.app.state.posthog
    # Sends a "$feature_flag_called" event too (once per user and value).
    new_checkout = bool(await posthog.feature_enabled("new-checkout", user_id))
    posthog.capture(user_id, "checkout viewed", {"new_checkout": new_checkout, "path": request.url.path})
    return {"user_id": user_id, "new_checkout": new_checkout}
