"""AWS Lambda: deliver each invocation's events before the runtime freezes the process.

Deploy ``handler`` as the function's handler with POSTHOG_API_KEY (and POSTHOG_HOST) set.
Configure posthog once, at import: warm invocations reuse the client and its thread, and
``flush_after`` sends what the invocation captured, waiting at most 2 seconds. Events still
pending at the deadline stay queued for the next invocation and are logged as a warning.

python examples/aws_lambda.py
    simulates three warm invocations against a fake PostHog on 127.0.0.1;
POSTHOG_HOST=https://us.i.posthog.com POSTHOG_API_KEY=phc_... python examples/aws_lambda.py
    sends them to a real project.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# Run from a checkout without installing: make `posthog` importable.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import posthog  # noqa: E402

posthog.project_api_key = os.environ.get("POSTHOG_API_KEY", "phc_lambda_example")
posthog.host = os.environ.get("POSTHOG_HOST", "https://us.i.posthog.com")


@posthog.flush_after(timeout=2)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Record the request, answer it; the flush runs after the return (or the exception)."""
    user_id = str(event.get("user_id", "anonymous"))
    posthog.capture(user_id, "lambda invoked", {"path": event.get("path", "/")})
    return {"statusCode": 200, "body": f"hello {user_id}"}


def main() -> int:
    server = None
    if "POSTHOG_HOST" not in os.environ:
        from posthog.testing import FakePostHog

        server = FakePostHog().start()
        posthog.host = server.url
    try:
        for n in range(3):  # three warm invocations of the same process
            print(handler({"user_id": f"user-{n}", "path": "/hello"}, None)["body"])
        if server is not None:
            print(f"the fake PostHog received {len(server.events())} event(s)")
    finally:
        posthog.shutdown(timeout=2)
        if server is not None:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
