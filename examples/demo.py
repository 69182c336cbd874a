"""`make demo`: run the SDK against a local PostHog-compatible server and show what it received.

Starts `python -m posthog.testing.fake_server` in its own process, sends a few events through the module
API, evaluates some feature flags (locally where possible, remotely otherwise), then prints
every request the server got.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import posthog  # noqa: E402

PERSONAL_KEY = "phx_demo_personal_key"

FLAG_DEFINITIONS: dict[str, Any] = {
    "flags": [
        {
            "id": 1,
            "key": "beta-feature",
            "active": True,
            "filters": {"groups": [{"properties": [], "rollout_percentage": 50}]},
        },
        {
            "id": 2,
            "key": "checkout-test",
            "active": True,
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100}],
                "multivariate": {
                    "variants": [
                        {"key": "control", "rollout_percentage": 33},
                        {"key": "test-a", "rollout_percentage": 33},
                        {"key": "test-b", "rollout_percentage": 34},
                    ]
                },
                "payloads": {"test-b": json.dumps({"color": "blue"})},
            },
        },
        {
            "id": 3,
            "key": "company-flag",
            "active": True,
            "filters": {
                "aggregation_group_type_index": 0,
                "groups": [
                    {
                        "properties": [
                            {"key": "plan", "value": "enterprise", "operator": "exact", "type": "group"}
                        ],
                        "rollout_percentage": 100,
                    }
                ],
            },
        },
        {
            "id": 4,
            "key": "needs-server",
            "active": True,
            "ensure_experience_continuity": True,
            "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]},
        },
    ],
    "group_type_mapping": {"0": "company"},
    "cohorts": {},
}


def _control(url: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"null")


def _start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "posthog.testing.fake_server", "--max-seconds", "120"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("FAKE_POSTHOG_URL="):
        proc.kill()
        raise SystemExit(f"fake server did not start: {line!r}")
    return proc, line.split("=", 1)[1]


def _flag_requests(url: str) -> int:
    return sum(1 for r in _control(url, "/_fake/requests") if r["path"].startswith("/flags"))


async def _async_part(url: str) -> None:
    try:
        from posthog import AsyncPosthog

        client = AsyncPosthog("phc_demo_project_key", host=url, personal_api_key=PERSONAL_KEY)
    except ImportError as exc:  # httpx is the `async` extra
        print(f"  skipped: {exc}")
        return
    async with client:
        await client.wait_for_flags(timeout=5)
        value = await client.get_feature_flag("beta-feature", "user-7")
        print(f"  beta-feature   for user-7    -> {value!r} (awaited, decided locally)")
        ok, message = client.capture("user-7", "async event", {"via": "AsyncPosthog"})
        print(f"  capture        accepted={ok} uuid={message['uuid']} (queued, no I/O)")
        ok, message = await client.capture_immediate("user-7", "async checkout")
        print(f"  capture_immediate delivered={ok} (returned once the server had it)")
    print(f"  async with: shut down; stats: {client.stats}")


def _protocols_part(url: str) -> None:
    # The server will ask for the second event again: capture v1 re-sends it alone.
    _control(url, "/_fake/v1/answers", {"answers": [{"results": ["ok", "retry"], "retry_after": 0.2}]})
    client = posthog.Posthog("phc_demo_project_key", host=url, capture_mode="v1", capture_compression="gzip")
    client.capture("user-1", "signed up (v1)", {"plan": "pro", "$session_id": "s-1"})
    client.identify("user-1", {"email": "user-1@example.com"})
    ok, message = client.capture_ai(
        "user-1", "$ai_generation", {"$ai_model": "gpt-4o", "$ai_input_tokens": 12}
    )
    print(f"  capture_ai     accepted={ok} uuid={message['uuid']} (own queue, AI endpoint)")
    client.shutdown()
    print(f"  shut down; stats: {client.stats}")


def _tenants_part(url: str) -> None:
    # A client per tenant, as libraries that wrap PostHog often build them: the process still
    # runs one delivery engine (an encoder and a few senders), not two threads per client.
    tenants = [posthog.Posthog(f"phc_tenant_{n}", host=url, flush_interval=0.1) for n in range(50)]
    for n, tenant in enumerate(tenants):
        tenant.capture(f"tenant-user-{n}", "tenant event", {"tenant": n})
    names = sorted(t.name for t in threading.enumerate())
    print(f"  50 clients captured; threads in this process: {len(names)} ({', '.join(sorted(set(names)))})")
    for tenant in tenants:
        tenant.shutdown()
    print(f"  all shut down; sent: {sum(t.stats.sent for t in tenants)} events")


def main() -> None:
    proc, url = _start_server()
    try:
        _control(
            url,
            "/_fake/config",
            {
                "flag_definitions": FLAG_DEFINITIONS,
                "personal_api_key": PERSONAL_KEY,
                "remote_flags": {"needs-server": "from-the-server"},
            },
        )
        print(f"Fake PostHog listening on {url}\n")

        posthog.project_api_key = "phc_demo_project_key"
        posthog.host = url
        posthog.personal_api_key = PERSONAL_KEY

        print("== Events (each call returns at once; a background thread sends them in batches)")
        calls = [
            ("capture", lambda: posthog.capture("user-1", "movie played", {"movie_id": "123"})),
            ("identify", lambda: posthog.identify("user-1", {"email": "dwayne@example.com"})),
            ("alias", lambda: posthog.alias("session-42", "user-1")),
            ("group_identify", lambda: posthog.group_identify("company", "acme-inc", {"employees": 11})),
            (
                "capture+groups",
                lambda: posthog.capture("user-1", "report exported", groups={"company": "acme-inc"}),
            ),
        ]
        for name, call in calls:
            ok, message = call()
            print(f"  {name:<15} accepted={ok} uuid={message['uuid']}")
        posthog.page("user-1", "https://example.com/pricing", {"referrer": "newsletter"})
        print("  page            (the facade returns None, as in 3.x)")

        print("\n== Feature flags")
        client = posthog.default_client
        assert client is not None
        client.wait_for_flags(timeout=5)
        checks = [
            ("beta-feature", "user-7", {}),
            ("beta-feature", "user-123", {}),
            ("checkout-test", "user-42", {}),
            (
                "company-flag",
                "user-9",
                {"groups": {"company": "acme-inc"}, "group_properties": {"company": {"plan": "Enterprise"}}},
            ),
            ("needs-server", "user-1", {}),
        ]
        for key, distinct_id, extra in checks:
            before = _flag_requests(url)
            value = posthog.get_feature_flag(key, distinct_id, **extra)
            where = "asked the server" if _flag_requests(url) > before else "decided locally"
            print(f"  {key:<14} for {distinct_id:<9} -> {value!r:<18} ({where})")
        payload = posthog.get_feature_flag_payload("checkout-test", "user-42")
        print(f"  checkout-test payload for user-42 -> {payload}")
        result = posthog.get_feature_flag_result("checkout-test", "user-42")
        print(f"  get_feature_flag_result -> {result}")

        print("\n== Request contexts (what the Flask/Django/ASGI/Celery integrations open per request)")
        with posthog.new_context():
            posthog.identify_context("user-5")
            posthog.set_context_session("session-5")
            posthog.tag("route", "/checkout")
            posthog.capture(event="checkout started")  # no distinct id: the context's
            print(f"  in a context: beta-feature -> {posthog.get_feature_flag('beta-feature')!r} (its user)")
        print("  capture(event='checkout started') -> sent as user-5, with $session_id and the tag")

        started = time.monotonic()
        posthog.shutdown()
        print(f"\nshutdown() returned in {time.monotonic() - started:.3f}s; stats: {client.stats}")

        print("\n== asyncio: AsyncPosthog (flags awaited, events sent by a task on the loop)")
        asyncio.run(_async_part(url))

        print("\n== Protocols: capture v1 (per-event results) and capture_ai")
        _protocols_part(url)

        print("\n== Many clients, one delivery engine per process")
        _tenants_part(url)

        print("\n== What the server received (the 50 tenants' events counted, not listed)")
        tenant_events = 0
        for request in _control(url, "/_fake/requests"):
            body = request.get("json")
            if isinstance(body, dict) and str(body.get("api_key", "")).startswith("phc_tenant_"):
                tenant_events += len(body.get("batch", []))
                continue
            print(f"{request['method']} {request['path']}")
            if request["path"].startswith("/batch") and isinstance(body, dict):
                for message in body.get("batch", []):
                    props = message.get("properties", {})
                    shown = {
                        k: v
                        for k, v in props.items()
                        if not k.startswith(("$lib", "$python", "$os", "$geoip"))
                    }
                    extra = {k: message[k] for k in ("$set", "$set_once") if k in message}
                    print(f"    {message['event']:<22} {message['distinct_id']:<12} {json.dumps(shown)}")
                    if extra:
                        print(f"    {'':<22} {'':<12} {json.dumps(extra)}")
            elif request["path"].startswith("/i/v1/") and isinstance(body, dict):
                headers = {k.lower(): v for k, v in request["headers"].items()}
                print(
                    f"    attempt {headers.get('posthog-attempt')} of request "
                    f"{headers.get('posthog-request-id')}, answered {request.get('v1_results')}"
                )
                for event in body.get("batch", []):
                    shown = {k: v for k, v in event.items() if k in ("options", "session_id")}
                    print(f"    {event['event']:<22} {event['distinct_id']:<12} {json.dumps(shown)}")
            elif request["path"].startswith("/i/v0/ai/") and isinstance(body, dict):
                for message in body.get("batch", []):
                    print(f"    {message['event']:<22} {message['distinct_id']:<12} (AI endpoint)")
            elif request["path"].startswith("/flags") and isinstance(body, dict):
                print(f"    distinct_id={body.get('distinct_id')} keys={body.get('flag_keys_to_evaluate')}")
        print(f"(and {tenant_events} tenant events)")
    finally:
        proc.terminate()
        proc.wait(timeout=5)


if __name__ == "__main__":
    main()
