"""One delivery engine per process: a fixed number of threads however many clients, fair to each.

Each scenario runs in a fresh interpreter (its own engine, nothing left over from other tests);
the servers run here, on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.fake_server import FakePostHog, SilentServer
from tests.support.scripts import run_script as run_python

REPO = Path(__file__).resolve().parents[1]


def run_script(script: str, *args: str, timeout: float = 60) -> tuple[dict[str, Any], float]:
    """Run ``script`` in a fresh interpreter; its last stdout line as JSON, and its wall time."""
    started = time.monotonic()
    proc = run_python(script, *args, timeout=timeout)
    return json.loads(proc.stdout.strip().splitlines()[-1]), time.monotonic() - started


_OS_THREADS = r"""
import os, threading
def os_threads():
    try:
        return len(os.listdir("/proc/self/task"))  # the kernel's count: every thread of the process
    except OSError:
        return threading.active_count()
"""

# 200 clients capture 5 events each; the process then exits without flush or shutdown.
_TWO_HUNDRED_CLIENTS = (
    _OS_THREADS
    + r"""
import json, sys, time
import posthog

clients = [posthog.Client(f"phc_{n}", host=sys.argv[1], flush_interval=0.2) for n in range(200)]
most = os_threads()
for n, client in enumerate(clients):
    for i in range(5):
        client.capture(f"user-{n}", "engine", {"client": n, "i": i})
    most = max(most, os_threads())
deadline = time.monotonic() + 1.0
while time.monotonic() < deadline:  # while the batches are being sent
    most = max(most, os_threads())
    time.sleep(0.01)
names = sorted({t.name for t in threading.enumerate()})
print(json.dumps({"most_threads": most, "names": names, "exit_started": time.time()}))
"""
)


def test_200_clients_run_at_most_8_threads_and_deliver_everything_by_exit() -> None:
    with FakePostHog() as fake:
        report, _ = run_script(_TWO_HUNDRED_CLIENTS, fake.url)
        events = fake.wait_for_events(1000, timeout=15)
        finished = time.time()

    assert report["most_threads"] <= 8, report  # 3.25.0 runs 201, one per client
    assert report["names"] == ["MainThread", "posthog.consumer", "posthog.sender"], report
    assert len(events) == 1000
    per_client = {(e["properties"]["client"], e["properties"]["i"]) for e in events}
    assert per_client == {(n, i) for n in range(200) for i in range(5)}
    assert {e["properties"]["$lib"] for e in events} == {"posthog-python"}
    assert finished - report["exit_started"] < 10


# Three clients whose host accepts connections and never answers (timeout 20 s), one healthy
# client started once all three have a request hanging: its event must not wait for them.
_DEAD_HOSTS = (
    _OS_THREADS
    + r"""
import json, sys, time
import posthog

dead_url, healthy_url = sys.argv[1], sys.argv[2]
dead = [posthog.Client(f"phc_dead{n}", host=dead_url, timeout=20, flush_interval=0.01) for n in range(3)]
for n, client in enumerate(dead):
    client.capture("someone", "never delivered", {"n": n})
time.sleep(1.0)  # every dead client's first attempt is now hanging
healthy = posthog.Client("phc_healthy", host=healthy_url, flush_interval=0.01)
started = time.monotonic()
healthy.capture("someone", "delivered")
left = healthy.flush(timeout=10)
took = time.monotonic() - started
for client in dead:
    client.shutdown(timeout=0)
print(json.dumps({"left": left, "took": took, "threads": os_threads()}))
"""
)


def test_dead_hosts_do_not_delay_another_clients_events() -> None:
    with SilentServer() as silent, FakePostHog() as fake:
        report, _ = run_script(_DEAD_HOSTS, silent.url, fake.url)
        accepted = silent.accepted
        events = fake.events()

    assert accepted >= 3  # each dead client had a request hanging
    assert report["left"] == 0
    assert report["took"] < 2.0, report  # not the dead hosts' 20 s timeout
    assert [e["event"] for e in events] == ["delivered"]
    assert report["threads"] <= 8


# Client A captures in a tight loop for 2 s from a thread; meanwhile client B captures one event
# at a time and flushes it, ten times: each must arrive in its turn beside the burst.
_BURST = r"""
import json, sys, threading, time
import posthog

busy = posthog.Client("phc_busy", host=sys.argv[1], flush_interval=0.05, max_queue_size=1_000_000)
quiet = posthog.Client("phc_quiet", host=sys.argv[1], flush_interval=0.05)
stop = time.monotonic() + 2.0
sent = []
def burst():
    i = 0
    while time.monotonic() < stop:
        busy.capture("burst", "burst", {"i": i})
        i += 1
    sent.append(i)
thread = threading.Thread(target=burst)
thread.start()
time.sleep(0.3)
latencies = []
for n in range(10):
    started = time.monotonic()
    quiet.capture("someone", "quiet", {"n": n})
    assert quiet.flush(timeout=10) == 0
    latencies.append(time.monotonic() - started)
during = time.monotonic() < stop
thread.join()
print(json.dumps({"latencies": latencies, "during": during, "busy_left": busy.flush(timeout=60),
                  "burst": sent[0]}))
"""


def test_a_burst_on_one_client_does_not_hold_back_another() -> None:
    with FakePostHog() as fake:
        report, _ = run_script(_BURST, fake.url)
        events = fake.events()

    assert report["during"], report  # the quiet client's events went while the burst ran
    assert report["busy_left"] == 0
    assert len([e for e in events if e["event"] == "burst"]) == report["burst"]
    assert sorted(e["properties"]["n"] for e in events if e["event"] == "quiet") == list(range(10))
    # each quiet event took its turn beside the burst, not after it
    assert max(report["latencies"]) < 0.5, report


# Two clients; one is shut down, the other keeps delivering, and neither stops the engine.
_SHUTDOWN_ONE = r"""
import json, sys, threading
import posthog

first = posthog.Client("phc_first", host=sys.argv[1], flush_interval=0.05)
second = posthog.Client("phc_second", host=sys.argv[1], flush_interval=0.05)
first.capture("someone", "first")
second.capture("someone", "second")
first.shutdown(timeout=5)
after = first.capture("someone", "after shutdown")
second.capture("someone", "second again")
left = second.flush(timeout=5)
print(json.dumps({
    "after": list(after), "left": left,
    "first_alive": any(c.is_alive() for c in first.consumers),
    "second_alive": all(c.is_alive() for c in second.consumers),
    "names": sorted({t.name for t in threading.enumerate()}),
}))
"""


def test_shutting_down_one_client_leaves_the_others_served() -> None:
    with FakePostHog() as fake:
        report, _ = run_script(_SHUTDOWN_ONE, fake.url)
        events = sorted(e["event"] for e in fake.events())

    assert events == ["first", "second", "second again"]
    assert report["after"][0] is False
    assert report["left"] == 0
    assert report["first_alive"] is False and report["second_alive"] is True
    assert report["names"] == ["MainThread", "posthog.consumer", "posthog.sender"]


# 100 clients that capture and poll flag definitions every 0.2 s: still a fixed set of threads.
_POLLING_CLIENTS = (
    _OS_THREADS
    + r"""
import json, sys, time
import posthog

clients = [
    posthog.Client(f"phc_{n}", host=sys.argv[1], personal_api_key="phx_personal", poll_interval=0.2)
    for n in range(100)
]
loaded = all(client.wait_for_flags(5) for client in clients)
for n, client in enumerate(clients):
    client.capture(f"user-{n}", "polling")
most = os_threads()
until = time.monotonic() + 1.0
while time.monotonic() < until:
    most = max(most, os_threads())
    time.sleep(0.01)
names = sorted({t.name for t in threading.enumerate()})
for client in clients:
    client.shutdown()
print(json.dumps({"loaded": loaded, "most_threads": most, "names": names}))
"""
)


def test_clients_that_poll_flag_definitions_share_the_poller_threads() -> None:
    with FakePostHog() as fake:
        fake.personal_api_key = "phx_personal"
        report, _ = run_script(_POLLING_CLIENTS, fake.url)
        events = fake.wait_for_events(100, timeout=10)
        polls = len(fake.requests_to("/api/feature_flag/local_evaluation"))

    assert report["loaded"] is True
    assert report["most_threads"] <= 8, report  # 3.25.0: a consumer and a poller per client
    assert report["names"] == ["MainThread", "posthog.consumer", "posthog.poller", "posthog.sender"]
    assert len(events) == 100
    assert polls >= 200  # every client polled more than once


# 50 clients whose host never answers, each with shutdown_timeout=1: exit waits for them together.
_DEAD_AT_EXIT = r"""
import sys, time
import posthog

dropped = []
clients = [
    posthog.Client(f"phc_{n}", host=sys.argv[1], timeout=10, shutdown_timeout=1,
                   on_error=lambda error, batch: dropped.extend(batch))
    for n in range(50)
]
for client in clients:
    client.capture("someone", "lost at exit")
time.sleep(0.3)
import atexit
atexit.register(lambda: print(len(dropped), flush=True))  # runs after the drain
"""


def test_exit_waits_for_many_unreachable_clients_together_within_their_deadline() -> None:
    with SilentServer() as silent:
        started = time.monotonic()
        proc = run_python(_DEAD_AT_EXIT, silent.url)
        took = time.monotonic() - started

    assert proc.stdout.split() == ["50"]  # every lost event reported through on_error
    assert took < 6.0  # 50 clients x 1 s each would be 50 s
    assert "still pending after 1.0s at interpreter exit" in proc.stderr


# A sender is idle after some traffic; then a client whose host never answers and a healthy
# one become due in the same instant: the healthy one must not wait behind the hanging request.
_DUE_TOGETHER = r"""
import json, sys, time
import posthog

warm = posthog.Client("phc_warm", host=sys.argv[2], flush_interval=0.01)
warm.capture("someone", "warm-up")
assert warm.flush(timeout=5) == 0
time.sleep(0.2)  # its sender now waits for work
dead = posthog.Client("phc_dead", host=sys.argv[1], timeout=20, flush_interval=0.05)
healthy = posthog.Client("phc_healthy", host=sys.argv[2], flush_interval=0.05)
started = time.monotonic()
dead.capture("someone", "never delivered")
healthy.capture("someone", "delivered")
while healthy.stats.sent < 1 and time.monotonic() - started < 10:  # no flush(): it would hurry
    time.sleep(0.005)
took = time.monotonic() - started
dead.shutdown(timeout=0)
print(json.dumps({"left": healthy.stats.pending, "took": took}))
"""


def test_a_healthy_client_due_with_a_dead_one_does_not_wait_behind_it() -> None:
    with SilentServer() as silent, FakePostHog() as fake:
        for _ in range(3):  # the order in which the two become due varies: try a few times
            report, _ = run_script(_DUE_TOGETHER, silent.url, fake.url)
            assert report["left"] == 0
            assert report["took"] < 2.0, report  # not the dead host's 20 s timeout
