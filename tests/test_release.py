"""A client that goes out of scope is released: its events are still sent and its threads end.

weaknesses.md §B 15: 3.x clients were never released (a client per request leaked threads).
"""

from __future__ import annotations

import gc
import time
import weakref

import posthog
from tests.conftest import API_KEY
from tests.fake_server import FakePostHog
from tests.support.builders import FlagBuilder, definitions
from tests.support.waiting import wait_until


def test_a_dropped_client_delivers_its_events_and_the_engine_lets_go_of_it(fake_server: FakePostHog) -> None:
    client = posthog.Client(API_KEY, host=fake_server.url, flush_interval=5)
    client.capture("user-1", "sent after the client is gone")
    consumers = list(client.consumers or [])
    pipeline = weakref.ref(client._dispatcher)
    ref = weakref.ref(client)

    del client
    gc.collect()

    assert ref() is None
    assert [e["event"] for e in fake_server.wait_for_events(1)] == ["sent after the client is gone"]
    assert consumers and all(c.thread is not None and c.thread.name == "posthog.consumer" for c in consumers)
    wait_until(lambda: not any(c.is_alive() for c in consumers), timeout=3)
    consumers.clear()
    # delivered: the process's engine holds nothing of it any more
    wait_until(lambda: gc.collect() is not None and pipeline() is None, timeout=3)


def test_a_dropped_client_stops_polling(fake_server: FakePostHog) -> None:
    fake_server.personal_api_key = "phx_personal"
    fake_server.set_flag_definitions(definitions([FlagBuilder("on").condition([]).build()]))
    client = posthog.Client(API_KEY, host=fake_server.url, personal_api_key="phx_personal", poll_interval=0.2)
    assert client.wait_for_flags(timeout=3)
    poller = client.poller
    assert poller is not None and poller.is_alive()
    assert poller.thread is not None and poller.thread.name == "posthog.poller"
    ref = weakref.ref(client)

    del client
    gc.collect()

    assert ref() is None
    wait_until(lambda: not poller.is_alive(), timeout=3)
    polls = len(fake_server.requests_to("/api/feature_flag/local_evaluation"))
    time.sleep(0.5)  # more than two poll intervals
    assert len(fake_server.requests_to("/api/feature_flag/local_evaluation")) == polls
