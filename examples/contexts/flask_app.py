"""Flask: ``PosthogFlaskIntegration`` runs every request in a PostHog context.

    python examples/contexts/flask_app.py

serves the app on 127.0.0.1 with a fake PostHog and prints what was sent. In the app, nothing
passes a distinct id: the request's context has it (from the tracing headers posthog-js sets),
and events of a request without one are personless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from _demo import run_demo
from flask import Flask
from werkzeug.serving import make_server

import posthog
from posthog.contexts import get_context_distinct_id
from posthog.integrations.flask import PosthogFlaskIntegration


def create_app(client: posthog.Client) -> Flask:
    app = Flask(__name__)
    PosthogFlaskIntegration(app, client=client)

    @app.get("/checkout")
    def checkout() -> dict[str, bool]:
        # A flag needs a person: anonymous visitors get the old checkout.
        new_checkout = bool(get_context_distinct_id() and client.feature_enabled("new-checkout"))
        client.capture(event="checkout viewed", properties={"new_checkout": new_checkout})
        return {"new_checkout": new_checkout}

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("payment service down")  # captured once, with Grace's ids; Flask answers 500

    return app


@contextmanager
def serve(posthog_host: str) -> Iterator[str]:
    client = posthog.Client("phc_flask_example", host=posthog_host)
    app = create_app(client)
    app.logger.disabled = True  # the demo's failing request is on purpose
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        client.shutdown()  # delivers what is queued


if __name__ == "__main__":
    raise SystemExit(run_demo(serve))
