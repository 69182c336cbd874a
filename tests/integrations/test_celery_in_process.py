"""``PosthogCeleryIntegration`` in this process: publishing to kombu's in-memory broker, and tasks run
by Celery's own tracer (what a pool process runs) or eagerly. The worker subprocesses are in
test_celery.py; these cover what is awkward to provoke there (a lost ``task_postrun``, hostile
headers, broken clients and filters, receivers of other code)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any, Callable

import pytest

import posthog
from posthog import contexts
from posthog.contexts import get_context_distinct_id, get_tags, identify_context, new_context, tag
from tests.fake_server import FakePostHog

celery = pytest.importorskip("celery")
from celery import signals  # noqa: E402
from celery.app.trace import build_tracer  # noqa: E402

from posthog.integrations.celery import PosthogCeleryIntegration  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADERS = ("X-POSTHOG-DISTINCT-ID", "X-POSTHOG-SESSION-ID", "X-POSTHOG-CONTEXT-TAGS")


@pytest.fixture
def app() -> Iterator[Any]:
    app = celery.Celery(f"in-process-{uuid.uuid4().hex[:8]}", broker="memory://", set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True)
    app.posthog_client = None  # the client the tasks capture with, set by each test

    @app.task(name="inproc.seen", shared=False)  # not added to the apps of other tests
    def seen(label: str) -> dict[str, Any]:
        app.posthog_client.capture(event="task work", properties={"label": label})
        return {"distinct_id": get_context_distinct_id(), "tags": get_tags()}

    @app.task(name="inproc.fail", shared=False)
    def fail(label: str) -> None:
        raise KeyError(label)

    yield app
    app.close()


@pytest.fixture
def integrations() -> Iterator[Callable[..., PosthogCeleryIntegration]]:
    """Build and instrument integrations; all are uninstrumented after the test."""
    made: list[PosthogCeleryIntegration] = []

    def make(**kwargs: Any) -> PosthogCeleryIntegration:
        integration = PosthogCeleryIntegration(**kwargs)
        integration.instrument()
        made.append(integration)
        return integration

    yield make
    for integration in made:
        integration.uninstrument()


@pytest.fixture
def published_headers() -> Iterator[list[dict[str, Any]]]:
    """The PostHog headers of every message as it was sent (another receiver of ``after_task_publish``)."""
    seen: list[dict[str, Any]] = []

    def record(headers: Any = None, **_: Any) -> None:
        seen.append({k: v for k, v in (headers or {}).items() if k.startswith("X-POSTHOG")})

    signals.after_task_publish.connect(record, weak=False, dispatch_uid="test-record-headers")
    yield seen
    signals.after_task_publish.disconnect(dispatch_uid="test-record-headers")


def run_as_worker(task: Any, headers: dict[str, Any], *args: Any) -> Any:
    """Run ``task`` as a pool process does (Celery's tracer, not eager), its message carrying ``headers``."""
    task_id = str(uuid.uuid4())
    request = {
        "id": task_id,
        "hostname": "in-process@test",
        "delivery_info": {"exchange": "", "routing_key": "inproc", "priority": 0, "redelivered": False},
        **headers,
    }
    trace = build_tracer(
        task.name, task, eager=False, propagate=False, app=task.app, hostname="in-process@test"
    )
    return trace(task_id, list(args), {}, request)


def test_a_task_gets_a_fresh_context_from_cleaned_headers_and_gives_back_the_callers(
    app: Any, make_client: Callable[..., posthog.Client], fake_server: FakePostHog, integrations: Any
) -> None:
    client = app.posthog_client = make_client()
    integrations(client=client)
    hostile = {
        "X-POSTHOG-DISTINCT-ID": "user\x00-\x1b[31m1" + "x" * 2000,
        "X-POSTHOG-SESSION-ID": "\r\nsession-1",
        "X-POSTHOG-CONTEXT-TAGS": json.dumps({"plan": "pro", "n": 1}),
    }
    with new_context(fresh=True) as caller:
        identify_context("the-caller")
        tag("caller_tag", 1)
        outcome = run_as_worker(app.tasks["inproc.seen"], hostile, "hostile")
        bare = run_as_worker(app.tasks["inproc.seen"], {"X-POSTHOG-CONTEXT-TAGS": "[not json"}, "bare")
        assert contexts.current() is caller and get_context_distinct_id() == "the-caller"
    assert contexts.current() is None

    expected_id = ("user-[31m1" + "x" * 2000)[:1000]  # control characters removed, then capped
    assert outcome.retval == {"distinct_id": expected_id, "tags": {"plan": "pro", "n": 1}}
    assert bare.retval == {"distinct_id": None, "tags": {}}  # nothing of the caller's: fresh
    assert client.flush(timeout=10) == 0
    work = {e["properties"]["label"]: e for e in fake_server.events() if e["event"] == "task work"}
    assert work["hostile"]["distinct_id"] == expected_id
    assert work["hostile"]["properties"]["$session_id"] == "session-1"
    assert work["bare"]["properties"]["$process_person_profile"] is False
    started = [e for e in fake_server.events() if e["event"] == "celery task started"]
    assert {e["properties"]["celery_hostname"] for e in started} == {"in-process@test"}
    assert {e["properties"]["celery_queue"] for e in started} == {"inproc"}


def test_a_context_whose_postrun_never_came_is_closed_by_the_next_task(
    app: Any, make_client: Callable[..., posthog.Client], integrations: Any
) -> None:
    app.posthog_client = make_client()
    integrations(client=app.posthog_client)
    task = app.tasks["inproc.seen"]
    with new_context(fresh=True) as caller:
        identify_context("the-caller")
        # A task whose tracer died between task_prerun and task_postrun.
        task.push_request(id="lost", **{"X-POSTHOG-DISTINCT-ID": "lost-user"})
        signals.task_prerun.send(sender=task, task_id="lost", task=task, args=(), kwargs={})
        task.pop_request()
        assert get_context_distinct_id() == "lost-user"  # its context is still open

        outcome = run_as_worker(task, {}, "next")
        assert outcome.retval["distinct_id"] is None  # nothing of the lost task's
        assert contexts.current() is caller  # the lost context was closed too
        signals.task_postrun.send(sender=task, task_id="lost", task=task)  # late or unknown: harmless
        signals.task_postrun.send(sender=task, task_id="nobody", task=task)
        assert contexts.current() is caller


def test_an_eager_task_runs_in_its_callers_context(
    app: Any, make_client: Callable[..., posthog.Client], fake_server: FakePostHog, integrations: Any
) -> None:
    client = app.posthog_client = make_client()
    integrations(client=client)
    with new_context(fresh=True) as caller:
        identify_context("the-caller")
        tag("plan", "pro")
        result = app.tasks["inproc.seen"].apply(args=["eager"])
        failed = app.tasks["inproc.fail"].apply(args=["eager-fail"])
        given = app.tasks["inproc.seen"].apply(args=["given"], headers={"X-POSTHOG-DISTINCT-ID": "given"})
        assert contexts.current() is caller
    assert result.get() == {"distinct_id": "the-caller", "tags": {"plan": "pro"}}
    assert given.get() == {"distinct_id": "given", "tags": {"plan": "pro"}}  # headers win
    assert isinstance(failed.result, KeyError) and failed.result.args == ("eager-fail",)
    assert client.flush(timeout=10) == 0
    events = fake_server.events()
    assert {e["distinct_id"] for e in events} == {"the-caller", "given"}
    exceptions = [e for e in events if e["event"] == "$exception"]
    assert len(exceptions) == 1 and exceptions[0]["properties"]["plan"] == "pro"
    (failure,) = [e for e in events if e["event"] == "celery task failure"]
    assert failure["properties"]["error_type"] == "KeyError"
    assert "celery_exchange" not in failure["properties"]  # unknown for an eager task: left out


def test_uninstrument_disconnects_exactly_its_own_receivers(
    app: Any,
    make_client: Callable[..., posthog.Client],
    fake_server: FakePostHog,
    integrations: Any,
    published_headers: list[dict[str, Any]],
) -> None:
    client = make_client()
    first = integrations(client=client)
    second = integrations(client=client, capture_task_lifecycle_events=False)
    second.instrument()  # idempotent: still one set of receivers
    others: list[str] = []
    signals.before_task_publish.connect(
        lambda **_: others.append("before"), weak=False, dispatch_uid="test-other"
    )

    def publish() -> None:
        with new_context(fresh=True):
            identify_context("producer")
            tag("plan", "pro")
            tag("handle", object())  # not JSON: left out, the other tags still go
            app.send_task("inproc.seen", args=["x"], queue="inproc")

    publish()
    first.uninstrument()
    first.uninstrument()
    publish()
    second.uninstrument()
    publish()

    carried = {"X-POSTHOG-DISTINCT-ID": "producer", "X-POSTHOG-CONTEXT-TAGS": '{"plan":"pro"}'}
    signals.before_task_publish.disconnect(dispatch_uid="test-other")
    assert published_headers == [carried, carried, {}]
    assert others == ["before"] * 3
    assert client.flush(timeout=10) == 0
    assert [e["event"] for e in fake_server.events()] == ["celery task published"]  # from `first` only
    assert fake_server.events()[0]["distinct_id"] == "producer"


def test_headers_given_to_apply_async_are_kept(
    app: Any, make_client: Callable[..., posthog.Client], integrations: Any, published_headers: Any
) -> None:
    integrations(client=make_client(), capture_task_lifecycle_events=False)
    with new_context(fresh=True):
        identify_context("context-user")
        app.tasks["inproc.seen"].apply_async(args=["x"], headers={"X-POSTHOG-DISTINCT-ID": "given"})
    assert published_headers == [{"X-POSTHOG-DISTINCT-ID": "given"}]


def test_shutdown_flushes_without_stopping_the_client_and_is_idempotent(
    app: Any, make_client: Callable[..., posthog.Client], fake_server: FakePostHog, published_headers: Any
) -> None:
    client = make_client(flush_interval=3600, flush_at=1000)
    integration = PosthogCeleryIntegration(client=client)
    integration.instrument()
    app.send_task("inproc.seen", args=["x"], queue="inproc")
    assert fake_server.events() == []
    integration.shutdown()
    assert [e["event"] for e in fake_server.events()] == ["celery task published"]
    integration.shutdown()
    with new_context(fresh=True):
        identify_context("after-shutdown")
        app.send_task("inproc.seen", args=["x"], queue="inproc")  # uninstrumented: no header, no event
    client.capture("someone", "still running")
    assert client.flush(timeout=10) == 0
    assert [e["event"] for e in fake_server.events()] == ["celery task published", "still running"]
    assert published_headers == [{}, {}]


def test_the_default_client_is_used_when_none_is_given(
    app: Any, fake_server: FakePostHog, integrations: Any
) -> None:
    posthog.api_key = "phc_default_client"
    posthog.host = fake_server.url
    integrations()
    with new_context(fresh=True):
        identify_context("default-user")
        app.send_task("inproc.seen", args=["x"], queue="inproc")
    posthog.flush()
    (event,) = fake_server.events()
    assert (event["event"], event["distinct_id"]) == ("celery task published", "default-user")


class BrokenClient:
    """A client whose every call raises."""

    def capture(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("capture broke")

    capture_exception = flush = capture


def test_nothing_breaks_publishing_or_changes_what_a_task_returns_or_raises(
    app: Any,
    make_client: Callable[..., posthog.Client],
    integrations: Any,
    caplog: pytest.LogCaptureFixture,
    published_headers: Any,
) -> None:
    app.posthog_client = make_client()
    calls: list[str] = []

    def bad_filter(name: str, task: Any) -> bool:
        calls.append(name)
        raise ValueError("filter broke")

    integrations(client=BrokenClient(), task_filter=bad_filter)
    caplog.set_level(logging.WARNING, logger="posthog")
    with new_context(fresh=True):
        identify_context("producer")
        message = app.send_task("inproc.seen", args=["x"], queue="inproc")
        assert message.id
        ok = run_as_worker(app.tasks["inproc.seen"], {"X-POSTHOG-DISTINCT-ID": "p"}, "ok")
        failed = run_as_worker(app.tasks["inproc.fail"], {}, "failed")
    assert ok.retval == {"distinct_id": "p", "tags": {}}  # tracked: the filter raised
    assert isinstance(failed.retval.exception, KeyError) and failed.retval.exception.args == ("failed",)
    assert published_headers == [{"X-POSTHOG-DISTINCT-ID": "producer"}]
    assert len(calls) == 3
    filter_logs = [r for r in caplog.records if "task_filter" in r.getMessage()]
    assert len(filter_logs) == 1  # logged once, not once per task
    broken = [r for r in caplog.records if r.getMessage().startswith("PostHog Celery integration: error")]
    assert broken and all(r.levelno == logging.WARNING and r.exc_info for r in broken)


def test_importing_posthog_never_imports_celery() -> None:
    code = textwrap.dedent(
        """
        import sys
        import posthog, posthog.integrations, posthog.contexts
        print("celery" in sys.modules)
        sys.modules["celery"] = None
        try:
            import posthog.integrations.celery
        except ImportError as e:
            print(e)
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False", "Celery not installed; pip install 'posthog[celery]'"]
