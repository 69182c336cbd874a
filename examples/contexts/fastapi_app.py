"""FastAPI (any ASGI app): ``PosthogASGIMiddleware`` runs every request in a PostHog context.

    python examples/contexts/fastapi_app.py

serves the app with uvicorn on 127.0.0.1, with a fake PostHog and ``AsyncPosthog``, and prints
what was sent. In the app, nothing passes a distinct id: the request's context has it (from the
tracing headers posthog-js sets), and events of a request without one are personless.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from _demo import run_demo
from fastapi import FastAPI

import posthog
from posthog.contexts import get_context_distinct_id
from posthog.integrations.asgi import PosthogASGIMiddleware


def create_app(client: posthog.AsyncPosthog) -> FastAPI:
    app = FastAPI()
    app.add_middleware(PosthogASGIMiddleware, client=client)

    @app.get("/checkout")
    async def checkout() -> dict[str, bool]:
        # A flag needs a person: anonymous visitors get the old checkout.
        new_checkout = bool(get_context_distinct_id() and await client.feature_enabled("new-checkout"))
        client.capture(event="checkout viewed", properties={"new_checkout": new_checkout})
        return {"new_checkout": new_checkout}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("payment service down")  # captured once, with Grace's ids; the app answers 500

    return app


@contextmanager
def serve(posthog_host: str) -> Iterator[str]:
    client = posthog.AsyncPosthog("phc_fastapi_example", host=posthog_host)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(client), host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)

    async def run() -> None:
        try:
            await server.serve()
        finally:
            await client.shutdown()  # on the loop the client ran on: delivers what is queued

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


if __name__ == "__main__":
    raise SystemExit(run_demo(serve))
