"""What every web integration must show under load: each request's events carry its own ids, no leaks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

__all__ = [
    "assert_own_ids",
    "check_concurrent_requests",
    "check_unhandled_exceptions",
    "hit_concurrently",
    "tracing_headers",
]


def tracing_headers(n: int) -> dict[str, str]:
    """Request ``n``'s tracing headers; every fourth request has none (a visitor nobody knows)."""
    if n % 4 == 0:
        return {}
    return {"X-POSTHOG-DISTINCT-ID": f"user-{n}", "X-POSTHOG-SESSION-ID": f"session-{n}"}


def hit_concurrently(base: str, paths: list[tuple[str, int]], concurrency: int = 50) -> list[int]:
    """GET every ``(path, n)`` with request ``n``'s tracing headers and a secret query string."""

    def one(item: tuple[str, int]) -> int:
        path, n = item
        return http.get(f"{path}?token=secret", headers=tracing_headers(n)).status_code

    http = httpx.Client(base_url=base, limits=httpx.Limits(max_connections=concurrency), timeout=30)
    with http, ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, paths))


def assert_own_ids(event: dict[str, Any], n: int, path: str) -> None:
    """``event``, captured while request ``n`` for ``path`` was handled, carries that request's ids only."""
    props = event["properties"]
    assert props["$request_path"] == path
    assert props["$current_url"].endswith(path), props["$current_url"]  # no query string: it carries secrets
    assert props["$request_method"] == "GET" and props["$ip"] == "127.0.0.1"
    if n % 4:
        assert (event["distinct_id"], props["$session_id"]) == (f"user-{n}", f"session-{n}")
        assert props.get("$process_person_profile") is not False
    else:  # personless, and nobody else's ids
        assert props["$process_person_profile"] is False
        assert "$session_id" not in props and not event["distinct_id"].startswith("user-")


def check_concurrent_requests(base: str, fake: Any) -> None:
    """200 concurrent requests to ``/work/<n>`` (served on reused threads): every event carries
    its own request's ids and route, and a tag set mid-request reaches no other request."""
    fake.clear()
    statuses = hit_concurrently(base, [(f"/work/{n}", n) for n in range(200)])
    assert statuses == [200] * 200

    events = fake.wait_for_events(400, timeout=20)
    assert len(events) == 400
    for event in events:
        n = event["properties"]["n"]
        assert_own_ids(event, n, f"/work/{n}")
        assert event["properties"]["$request_route"] == "/work/<int:n>"
        if event["event"] == "work tagged":
            assert event["properties"]["step"] == n
        else:
            assert "step" not in event["properties"]  # no tag left over from a request before on this thread
    assert sorted(e["properties"]["n"] for e in events if e["event"] == "work done") == list(range(200))


def check_unhandled_exceptions(base: str, fake: Any) -> None:
    """10 failing requests to ``/fail/<n>``: exactly one ``$exception`` each, with its request's ids."""
    fake.clear()
    statuses = hit_concurrently(base, [(f"/fail/{n}", n) for n in range(1, 11)], concurrency=10)
    assert statuses == [500] * 10

    events = fake.wait_for_events(20, timeout=20)
    exceptions = [e for e in events if e["event"] == "$exception"]
    assert len(exceptions) == 10
    for event in exceptions:
        n = int(event["properties"]["$exception_list"][0]["value"].split()[-1])
        assert_own_ids(event, n, f"/fail/{n}")
