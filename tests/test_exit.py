"""Events captured just before a normal interpreter exit are delivered, within a deadline
(weaknesses.md §A.3, §B.13). Each case runs in a real subprocess against the fake server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fake_server import FakePostHog, SilentServer

REPO = Path(__file__).resolve().parents[1]
#: The documented default exit deadline (DEFAULT_SHUTDOWN_TIMEOUT).
EXIT_DEADLINE = 5.0
#: Interpreter start-up, import and teardown on a busy 2-core machine.
MARGIN = 3.0


def run_python(
    script: str, *args: str, timeout: float = 30
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``script`` with this interpreter from the repository root; return the result and its wall time."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{proc.stderr}"
    return proc, elapsed


_CAPTURE_THEN_EXIT = r"""
import sys
import posthog

client = posthog.Client("phc_exit", host=sys.argv[1])
for i in range(1000):
    client.capture("someone", "exit-event", {"i": i})
# no flush(), no shutdown(): the interpreter simply ends
"""


def test_events_captured_before_a_normal_exit_are_delivered(fake_server: FakePostHog) -> None:
    run_python(_CAPTURE_THEN_EXIT, fake_server.url)
    # Delivered before the process ended, not eventually.
    events = fake_server.events()
    assert len(events) == 1000
    assert sorted(e["properties"]["i"] for e in events) == list(range(1000))


_TWO_CLIENTS_THEN_EXIT = r"""
import sys
import posthog

first = posthog.Client("phc_exit_one", host=sys.argv[1])
second = posthog.Client("phc_exit_two", host=sys.argv[1])
for i in range(500):
    first.capture("someone", "first", {"i": i})
    second.capture("someone", "second", {"i": i})
"""


def test_every_client_is_drained_at_exit(fake_server: FakePostHog) -> None:
    run_python(_TWO_CLIENTS_THEN_EXIT, fake_server.url)
    by_key: dict[str, int] = {}
    for batch in fake_server.batches():
        by_key[batch["api_key"]] = by_key.get(batch["api_key"], 0) + len(batch["batch"])
    assert by_key == {"phc_exit_one": 500, "phc_exit_two": 500}


_EXIT_WITH_SILENT_SERVER = r"""
import logging, sys
import posthog

logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
lost = []
client = posthog.Client(
    "phc_exit", host=sys.argv[1], on_error=lambda error, batch: lost.append((error.reason.value, len(batch)))
)
for i in range(50):
    client.capture("someone", "exit-event", {"i": i})

import atexit
# Plain atexit hooks run after the SDK's exit drain (which runs at threading shutdown).
atexit.register(lambda: print("ON_ERROR", sum(n for _, n in lost), sorted({r for r, _ in lost}), flush=True))
"""


def test_exit_with_a_silent_server_ends_within_the_deadline_and_reports_the_loss(
    silent_server: SilentServer,
) -> None:
    proc, elapsed = run_python(_EXIT_WITH_SILENT_SERVER, silent_server.url, timeout=EXIT_DEADLINE + 20)
    assert elapsed < EXIT_DEADLINE + MARGIN
    assert "ON_ERROR 50 ['exit_deadline']" in proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("posthog WARNING")]
    assert any("50 event(s)" in line and "exit_deadline" in line for line in warnings), proc.stderr


_SHORT_EXIT_DEADLINE = r"""
import sys
import posthog

client = posthog.Client("phc_exit", host=sys.argv[1], shutdown_timeout=1.0)
client.capture("someone", "exit-event")
"""


def test_exit_deadline_follows_shutdown_timeout(silent_server: SilentServer) -> None:
    _, elapsed = run_python(_SHORT_EXIT_DEADLINE, silent_server.url, timeout=EXIT_DEADLINE + 20)
    assert elapsed < 1.0 + MARGIN


_EXIT_IN_FORKED_CHILD = r"""
import os, sys
import posthog

client = posthog.Client("phc_exit", host=sys.argv[1])
client.capture("parent", "parent-event")
client.flush(timeout=5)
pid = os.fork()
if pid == 0:
    for i in range(100):
        client.capture("child", "child-event", {"i": i})
    sys.exit(0)  # a normal interpreter exit in the child: the exit drain must run there too
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
def test_exit_in_a_forked_child_delivers_the_childs_events(fake_server: FakePostHog) -> None:
    run_python(_EXIT_IN_FORKED_CHILD, fake_server.url)
    events = fake_server.events()
    assert sorted(e["properties"]["i"] for e in events if e["event"] == "child-event") == list(range(100))
    assert sum(1 for e in events if e["event"] == "parent-event") == 1


_IMPORT_IN_PROGRESS_AT_EXIT = r"""
import time
from posthog._http.preload import start_preload

def slow_import():
    time.sleep(0.5)  # an import of C extensions still going when the script ends
    print("the import finished", flush=True)

start_preload(slow_import)
"""


def test_exit_lets_a_background_import_finish_before_the_interpreter_finalizes() -> None:
    # Finalizing while a thread is inside an import of C extensions can crash the process.
    proc, elapsed = run_python(_IMPORT_IN_PROGRESS_AT_EXIT)
    assert proc.stdout.strip() == "the import finished"
    assert elapsed < 10
