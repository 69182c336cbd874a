"""A forked child delivers its own events once, the parent is unaffected (weaknesses.md §B.10).

Fork runs in a real subprocess: the subprocess builds a client against the fake server (which
lives in the pytest process), uses it, forks, and reports what happened as JSON on stdout.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import posthog
from tests.fake_server import FakePostHog
from tests.support.builders import FlagBuilder
from tests.support.scripts import run_script

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")

REPO = Path(__file__).resolve().parents[1]
CHILD_FLUSH_TIMEOUT = 5.0

# Parent: 3 events flushed, 20 more captured and (mostly) still queued when it forks.
# Child: 10 events, flush(timeout=5), report threads before/after first use, exit without atexit.
# Parent again: 3 events after the child ended, flush.
_FORK_SCRIPT = r"""
import json, os, sys, threading, time
import posthog

client = posthog.Client("phc_fork", host=sys.argv[1], flush_interval=0.05, flush_at=5)
for i in range(3):
    client.capture("parent", "parent-before", {"i": i})
parent_before_flush = client.flush(timeout=5)
for i in range(20):
    client.capture("parent", "parent-queued", {"i": i})
queued_at_fork = client.queue.qsize()

read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read_end)
    report = {
        "threads_before_use": sorted(t.name for t in threading.enumerate()),
        "consumers_before_use": len(client.consumers or []),
    }
    for i in range(10):
        client.capture("child", "child", {"i": i})
    started = time.monotonic()
    report["flush_result"] = client.flush(timeout=float(sys.argv[2]))
    report["flush_seconds"] = time.monotonic() - started
    report["threads_after_use"] = sorted(t.name for t in threading.enumerate())
    os.write(write_end, json.dumps(report).encode())
    os._exit(0)

os.close(write_end)
chunks = []
while True:
    chunk = os.read(read_end, 65536)
    if not chunk:
        break
    chunks.append(chunk)
_, status = os.waitpid(pid, 0)
for i in range(3):
    client.capture("parent", "parent-after", {"i": i})
result = {
    "parent_before_flush": parent_before_flush,
    "queued_at_fork": queued_at_fork,
    "child_exit_status": status,
    "child": json.loads(b"".join(chunks) or b"null"),
    "parent_after_flush": client.flush(timeout=5),
}
client.shutdown(timeout=2)
print(json.dumps(result))
"""


def run_python(script: str, *args: str, timeout: float = 30) -> dict[str, Any]:
    """Run ``script`` with this interpreter from the repository root; return its last stdout line as JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{proc.stderr}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def fork_run() -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Run the fork scenario once; yield (the subprocess's report, the events the server accepted)."""
    with FakePostHog() as server:
        # Slow answers keep most of the parent's 20 events queued at the moment of the fork.
        server.set_delay("/batch", 0.2)
        report = run_python(_FORK_SCRIPT, server.url, str(CHILD_FLUSH_TIMEOUT), timeout=40)
        yield report, server.events()


def _count(events: list[dict[str, Any]], name: str) -> int:
    return sum(1 for e in events if e["event"] == name)


def test_child_delivers_its_events_exactly_once(
    fork_run: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, events = fork_run
    child_events = [e for e in events if e["event"] == "child"]
    assert report["child_exit_status"] == 0
    assert sorted(e["properties"]["i"] for e in child_events) == list(range(10))
    assert len({e["uuid"] for e in child_events}) == 10


def test_child_flush_returns_in_time_with_nothing_pending(
    fork_run: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    child = fork_run[0]["child"]
    assert child["flush_result"] == 0
    assert child["flush_seconds"] < CHILD_FLUSH_TIMEOUT


def test_parent_events_are_not_duplicated_by_the_child(
    fork_run: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, events = fork_run
    # The scenario is only meaningful if the child inherited a non-empty queue.
    assert report["queued_at_fork"] > 0
    counts = Counter(e["uuid"] for e in events)
    assert [uuid for uuid, n in counts.items() if n > 1] == []
    assert _count(events, "parent-before") == 3
    assert _count(events, "parent-queued") == 20


def test_parent_keeps_working_after_the_fork(fork_run: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    report, events = fork_run
    assert report["parent_before_flush"] == 0
    assert report["parent_after_flush"] == 0
    assert _count(events, "parent-after") == 3


def test_child_starts_its_own_engine_lazily(
    fork_run: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    child = fork_run[0]["child"]
    assert child["threads_before_use"] == ["MainThread"]
    assert child["consumers_before_use"] == 0
    # the child's own engine: its encoder and one sender (one client: one request at a time)
    assert child["threads_after_use"] == ["MainThread", "posthog.consumer", "posthog.sender"]


# The child exits through the interpreter, so the exit drain (not an explicit flush) must deliver.
_CHILD_OF_UNUSED_PARENT = r"""
import json, os, sys
import posthog

client = posthog.Client("phc_fork", host=sys.argv[1], flush_interval=0.05)
pid = os.fork()
if pid == 0:
    for i in range(5):
        client.capture("child", "child-of-unused", {"i": i})
    os._exit(0 if client.flush(timeout=5) == 0 else 3)
_, status = os.waitpid(pid, 0)
print(json.dumps({"child_exit_status": status, "parent_consumers": len(client.consumers or [])}))
"""


def test_child_of_a_parent_that_never_sent_delivers(fake_server: FakePostHog) -> None:
    report = run_python(_CHILD_OF_UNUSED_PARENT, fake_server.url)
    assert report == {"child_exit_status": 0, "parent_consumers": 0}
    assert _count(fake_server.events(), "child-of-unused") == 5


def test_fork_hook_does_not_keep_a_client_alive(fake_server: FakePostHog) -> None:
    # Every client registers an os.register_at_fork hook when built; that hook holds it weakly.
    client = posthog.Client("phc_fork", host=fake_server.url)
    client_ref = weakref.ref(client)
    dispatcher_ref = weakref.ref(client._dispatcher)
    del client
    gc.collect()
    assert client_ref() is None
    assert dispatcher_ref() is None


def test_used_and_shut_down_client_is_released(fake_server: FakePostHog) -> None:
    client = posthog.Client("phc_fork", host=fake_server.url, flush_interval=0.05)
    client.capture("someone", "event")
    client.shutdown(timeout=2)
    client_ref = weakref.ref(client)
    dispatcher_ref = weakref.ref(client._dispatcher)
    del client
    gc.collect()
    assert client_ref() is None
    assert dispatcher_ref() is None
    assert len(fake_server.events()) == 1


_FLAGS_FORK_SCRIPT = r"""
import json, os, sys, time
import posthog
from posthog import _pid

client = posthog.Client("phc_fork", host=sys.argv[1], personal_api_key="phx_fork", poll_interval=0.2)
assert client.wait_for_flags(5)
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read_end)
    report = {"pid_renewed": _pid.PID == os.getpid() != int(sys.argv[2])}
    report["flag"] = client.get_feature_flag("on", "u", only_evaluate_locally=True)  # restarts polling
    polls = client.flag_definitions_stats.polls
    deadline = time.monotonic() + 5
    while client.flag_definitions_stats.polls < polls + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    report["child_polled"] = client.flag_definitions_stats.polls - polls
    os.write(write_end, json.dumps(report).encode())
    os._exit(0)
os.close(write_end)
os.waitpid(pid, 0)
print(os.read(read_end, 65536).decode())
client.shutdown()
"""


def test_a_forked_child_keeps_polling_flag_definitions(fake_server: FakePostHog) -> None:
    """The child sees it is a new process (without a system call per flag call) and polls."""
    fake_server.personal_api_key = "phx_fork"
    fake_server.set_flag_definitions(
        {
            "flags": [FlagBuilder("on", flag_id=1).condition([], rollout=100).build()],
            "cohorts": {},
            "group_type_mapping": {},
        }
    )
    proc = run_script(_FLAGS_FORK_SCRIPT, fake_server.url, str(os.getpid()))
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"pid_renewed": True, "flag": True, "child_polled": report["child_polled"]}
    assert report["child_polled"] >= 2
