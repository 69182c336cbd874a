"""``PosthogASGIMiddleware`` with real FastAPI under real uvicorn on 127.0.0.1 (spec: contexts.md §2-§3)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import posthog
from posthog.integrations.asgi import PosthogASGIMiddleware
from tests.fake_server import FakePostHog

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _app(client: Any, **options: Any) -> Any:
    app = fastapi.FastAPI()
    app.add_middleware(PosthogASGIMiddleware, client=client, **options)

    @app.get("/work/{n}")
    async def work(n: int) -> dict[str, int]:
        await asyncio.sleep(0.001 * (n % 7))  # requests interleave on the loop
        client.capture(event="work done", properties={"n": n})
        return {"n": n}

    @app.get("/sync/{n}")
    def sync_work(n: int) -> dict[str, int]:  # run on a worker thread by FastAPI
        client.capture(event="sync done", properties={"n": n})
        return {"n": n}

    @app.get("/health")
    def health() -> dict[str, bool]:
        client.capture("probe", "health checked")
        return {"ok": True}

    @app.get("/fail/{n}")
    async def fail(n: int) -> None:
        client.capture(event="about to fail", properties={"n": n})
        raise RuntimeError(f"boom {n}")

    return app


class _Served:
    def __init__(self, app: Any) -> None:
        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def client(fake_server: FakePostHog) -> Iterator[posthog.Client]:
    ph = posthog.Client("phc_asgi", host=fake_server.url, flush_interval=0.05)
    yield ph
    ph.shutdown()


def _headers(n: int) -> dict[str, str]:
    if n % 4 == 0:
        return {}  # a visitor PostHog's browser SDK does not know
    return {"X-POSTHOG-DISTINCT-ID": f"user-{n}", "X-POSTHOG-SESSION-ID": f"session-{n}"}


async def _hit(base: str, paths: list[tuple[str, int]]) -> list[int]:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=20) as http:
        answers = await asyncio.gather(
            *(http.get(f"{path}?token=secret", headers=_headers(n)) for path, n in paths)
        )
    return [a.status_code for a in answers]


def test_concurrent_requests_each_get_their_own_ids_and_nothing_leaks(
    fake_server: FakePostHog, client: posthog.Client
) -> None:
    paths = [(f"/work/{n}", n) if n % 2 else (f"/sync/{n}", n) for n in range(200)]
    with _Served(_app(client)) as base:
        statuses = asyncio.run(_hit(base, paths))
    assert statuses == [200] * 200
    assert client.flush(timeout=10) == 0

    events = [e for e in fake_server.events() if e["event"] in ("work done", "sync done")]
    assert len(events) == 200
    for event in events:
        n, props = event["properties"]["n"], event["properties"]
        expected_path = f"/work/{n}" if n % 2 else f"/sync/{n}"
        assert props["$request_path"] == expected_path
        assert props["$current_url"].endswith(expected_path)  # no query string: it carries secrets
        assert props["$request_method"] == "GET" and props["$ip"] == "127.0.0.1"
        if n % 4:
            assert (event["distinct_id"], props["$session_id"]) == (f"user-{n}", f"session-{n}")
        else:  # personless, and nobody else's ids
            assert props["$process_person_profile"] is False
            assert "$session_id" not in props and not event["distinct_id"].startswith("user-")


def test_an_unhandled_exception_is_captured_once_with_the_requests_ids(
    fake_server: FakePostHog, client: posthog.Client
) -> None:
    with _Served(_app(client)) as base:
        statuses = asyncio.run(_hit(base, [(f"/fail/{n}", n) for n in range(1, 11)]))
    assert statuses == [500] * 10
    assert client.flush(timeout=10) == 0

    exceptions = [e for e in fake_server.events() if e["event"] == "$exception"]
    assert len(exceptions) == 10
    by_id = {e["distinct_id"]: e for e in exceptions}
    for n in range(1, 11):
        event = by_id.get(f"user-{n}") if n % 4 else None
        if event is not None:
            assert event["properties"]["$request_path"] == f"/fail/{n}"
            assert event["properties"]["$session_id"] == f"session-{n}"
    assert sum(1 for e in exceptions if e["distinct_id"].startswith("user-")) == 8


def test_options_filter_extra_properties_tracing_headers_and_trusted_proxies(
    fake_server: FakePostHog, client: posthog.Client
) -> None:
    app = _app(
        client,
        request_filter=lambda scope: scope["path"] != "/health",
        extra_properties=lambda scope: {"tenant": "acme"},
        capture_tracing_headers=False,
        trusted_proxies=["127.0.0.1/32"],
    )

    async def hit(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:
            proxied = {"X-Forwarded-For": "203.0.113.7, 10.9.9.9, 127.0.0.1", **_headers(1)}
            await http.get("/work/1", headers=proxied)
            await http.get("/health", headers=_headers(3))

    with _Served(app) as base:
        asyncio.run(hit(base))
    assert client.flush(timeout=10) == 0

    work = next(e for e in fake_server.events() if e["event"] == "work done")
    assert work["properties"]["tenant"] == "acme"
    assert work["properties"]["$ip"] == "10.9.9.9"  # the last hop added by a party not trusted
    assert not work["distinct_id"].startswith("user-")  # tracing headers ignored
    probe = next(e for e in fake_server.events() if e["event"] == "health checked")
    assert "$request_path" not in probe["properties"]  # filtered out: no context
    assert probe["distinct_id"] == "probe"


def test_the_async_client_works_with_the_middleware(fake_server: FakePostHog) -> None:
    async_client = posthog.AsyncPosthog("phc_asgi_async", host=fake_server.url, flush_interval=0.05)
    with _Served(_app(async_client)) as base:
        statuses = asyncio.run(_hit(base, [(f"/work/{n}", n) for n in range(1, 40, 2)]))
    assert statuses == [200] * 20

    async def close() -> None:
        await async_client.shutdown()

    asyncio.run(close())
    events = [e for e in fake_server.events() if e["event"] == "work done"]
    assert len(events) == 20
    assert all(e["distinct_id"] == f"user-{e['properties']['n']}" for e in events if e["properties"]["n"] % 4)
