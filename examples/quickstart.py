"""Quickstart: the 3.x module API (capture, identify, alias, groups).

python examples/quickstart.py
    starts a fake PostHog on 127.0.0.1 and prints what it received;
POSTHOG_HOST=https://us.i.posthog.com POSTHOG_API_KEY=phc_... python examples/quickstart.py
    sends the same calls to a real project.
"""

from __future__ import annotations

import os
import sys

# Run from a checkout without installing: make `posthog` importable.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import posthog  # noqa: E402


def main() -> int:
    server = None
    host = os.environ.get("POSTHOG_HOST")
    if not host:
        from posthog.testing import FakePostHog

        server = FakePostHog().start()
        host = server.url

    posthog.api_key = os.environ.get("POSTHOG_API_KEY", "phc_quickstart")
    posthog.host = host

    # An anonymous visitor does something, then signs up: alias the anonymous id to the user.
    posthog.capture("anon-7f3a", "viewed pricing", {"plan": "team"})
    posthog.alias("anon-7f3a", "ada@example.com")
    posthog.identify("ada@example.com", {"name": "Ada", "email": "ada@example.com"})
    posthog.set_once("ada@example.com", {"first_seen_via": "quickstart"})

    # Groups: describe the company, then attach events to it.
    posthog.group_identify("company", "acme", {"name": "Acme Inc", "employees": 11})
    posthog.capture("ada@example.com", "invited teammate", {"seats": 2}, groups={"company": "acme"})

    posthog.shutdown()  # flushes what is queued, within a deadline

    if server is None:
        print(f"sent to {host}")
        return 0
    events = server.events()
    server.close()
    print(f"the fake server at {host} received {len(events)} events:")
    for event in events:
        props = event.get("properties", {})
        shown = {k: v for k, v in props.items() if not k.startswith("$lib") and k not in _NOISE}
        shown.update({k: event[k] for k in ("$set", "$set_once") if k in event})
        print(f"  {event['event']:<18} {event['distinct_id']:<18} {shown}")
    return 0


_NOISE = {"$python_runtime", "$python_version", "$os", "$os_version", "$geoip_disable"}

if __name__ == "__main__":
    raise SystemExit(main())
