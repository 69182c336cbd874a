"""What the request-context examples share: a fake PostHog, three requests, and what was sent.

Each example serves its app on 127.0.0.1 and calls ``run_demo``. It sends three requests:
Ada's (with the tracing headers posthog-js sets), an anonymous visitor's (no headers, a query
string with a token), and Grace's, which fails. Then it prints every event the fake received,
with the ids and request properties the integration attached.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)  # run from a checkout without installing

from posthog.testing import FakePostHog  # noqa: E402

#: Serve the app for a client bound to the fake PostHog; yields the app's base URL.
Serve = Callable[[str], AbstractContextManager[str]]

REQUESTS = [
    ("/checkout", {"X-POSTHOG-DISTINCT-ID": "ada", "X-POSTHOG-SESSION-ID": "session-ada"}),
    ("/checkout?token=s3cret", {}),  # nobody PostHog knows: personless events, no token sent
    ("/boom", {"X-POSTHOG-DISTINCT-ID": "grace", "X-POSTHOG-SESSION-ID": "session-grace"}),
]
SHOWN = ("$session_id", "$current_url", "$request_route", "new_checkout", "$exception_type")


def _get(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def run_demo(serve: Serve) -> int:
    """Start the fake, serve the app with ``serve(fake_url)``, send the requests, print the events."""
    with FakePostHog() as fake:
        fake.set_remote_flags({"new-checkout": True})
        with serve(fake.url) as base:
            for path, headers in REQUESTS:
                who = headers.get("X-POSTHOG-DISTINCT-ID", "-")
                print(f"GET {path:<24} {who:<6} -> {_get(base + path, headers)}")
        print(f"PostHog received {len(fake.events())} events:")
        for event in fake.events():
            props = event["properties"]
            personless = props.get("$process_person_profile") is False
            person = "(personless)" if personless else event["distinct_id"]
            shown = {key: props[key] for key in SHOWN if key in props}
            print(f"  {event['event']:<22} {person:<13} {shown}")
    return 0
