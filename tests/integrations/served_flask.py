"""The Flask app ``tests/integrations/test_flask.py`` serves with gunicorn (configured by environment)."""

from __future__ import annotations

import os

from flask import Flask

import posthog
from posthog.integrations.flask import PosthogFlaskIntegration

KEY, HOST = os.environ["POSTHOG_TEST_KEY"], os.environ["POSTHOG_TEST_HOST"]
client = posthog.Client(KEY, host=HOST, flush_interval=0.05)
app = Flask(__name__)
PosthogFlaskIntegration(app, client=client)


@app.get("/ready")
def ready() -> str:
    return "ok"


@app.get("/work/<int:n>")
def work(n: int) -> dict[str, int]:
    client.capture(event="work done", properties={"n": n})
    posthog.tag("step", n)  # a tag set mid-request reaches the events after it, and no other request's
    client.capture(event="work tagged", properties={"n": n})
    return {"n": n}


@app.get("/fail/<int:n>")
def fail(n: int) -> str:
    client.capture(event="about to fail", properties={"n": n})
    raise RuntimeError(f"boom {n}")
