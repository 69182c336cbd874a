"""Run the demo site against a fake PostHog and show what PostHog and Sentry received.

    python examples/django_app/run_demo.py

Starts a PostHog-compatible server on 127.0.0.1 (or uses POSTHOG_HOST if set),
drives three views with Django's test client (a capture, a feature flag, an
error), and prints the events the server got plus the tags Sentry would have
sent. Sentry events are recorded in memory; nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, REPO]  # the demo project, and `posthog` from the checkout

SENTRY_DSN = "http://public@127.0.0.1:9/1"  # never contacted: the transport below records instead
sentry_events: list[dict[str, Any]] = []


def main() -> int:
    server = None
    if not os.environ.get("POSTHOG_HOST"):
        from posthog.testing import FakePostHog

        server = FakePostHog().start()
        server.set_remote_flags({"new-checkout": True})
        os.environ["POSTHOG_HOST"] = server.url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")

    import django

    django.setup()  # runs ShopConfig.ready(): posthog.api_key / posthog.host

    from demo_site.sentry import init_sentry
    from sentry_sdk.transport import Transport

    class RecordingTransport(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            event = envelope.get_event()
            if event is not None:
                sentry_events.append(event)

    init_sentry(SENTRY_DSN, transport=RecordingTransport)

    from django.test import Client

    import posthog

    browser = Client(raise_request_exception=False, headers={"X-User": "ada@example.com"})
    for path in ("/checkout/", "/new-checkout/", "/boom/"):
        response = browser.get(path)
        print(f"GET {path:<15} -> {response.status_code} {response.content[:60]!r}")

    posthog.shutdown()  # deliver what is queued

    print("\nSentry events (recorded, not sent):")
    for event in sentry_events:
        tags = event.get("tags", {})
        print(f"  {event.get('level')}: posthog_distinct_id={tags.get('posthog_distinct_id')!r}")
        print(f"         PostHog URL={tags.get('PostHog URL')!r}")

    if server is None:
        print(f"\nPostHog events were sent to {os.environ['POSTHOG_HOST']}")
        return 0
    events = server.events()
    print(f"\nPostHog ({server.url}) received {len(events)} events:")
    for event in events:
        props = event.get("properties", {})
        interesting = {
            k: v
            for k, v in props.items()
            if k in ("amount", "$feature_flag", "$feature_flag_response", "$sentry_event_id", "$sentry_url")
        }
        if "$sentry_exception" in props:
            values = props["$sentry_exception"].get("values", [])
            interesting["$sentry_exception"] = [f"{v.get('type')}: {v.get('value')}" for v in values]
        print(f"  {event['event']:<20} {event['distinct_id']:<16} {json.dumps(interesting)}")
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
