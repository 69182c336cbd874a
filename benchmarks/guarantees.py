"""Delivery guarantees side by side: posthog 3.25.0 (.venv-ref) against ours (.venv).

Every case runs in a fresh subprocess of each interpreter against the fake server, itself run as
``python -m tests.fake_server`` in its own process (a second one with ``--silent`` for the
never-answering case). Waits that hang in the reference are bounded by watchdog threads inside the
subprocess and by subprocess timeouts outside it.

    .venv/bin/python benchmarks/guarantees.py

Cases (weaknesses.md §A.1-A.3, §B.10, §B.13):
  1. fork: the client is used in the parent, the child captures 10 and flushes (watchdog 5 s);
  2. exit: 1000 captures, then a normal interpreter exit without flush/shutdown;
  3. silent server: seconds for ``shutdown()`` to return (capped at 90 s) and events reported lost;
  4. a 1 MiB event, then 10 normal ones: delivered, and whether ``flush()`` returned (watchdog 10 s);
  5. a ``1j`` property, then 10 normal events: delivered.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
OURS = REPO / ".venv" / "bin" / "python"
REFERENCE = REPO / ".venv-ref" / "bin" / "python"
SILENT_CAP = 90.0

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- the fake server in its own process -----------------------------------------------------


@contextmanager
def fake_server(*extra: str) -> Iterator[str]:
    """Start ``python -m tests.fake_server``; yield its URL; stop it afterwards."""
    proc = subprocess.Popen(
        [str(OURS), "-m", "tests.fake_server", "--max-seconds", "900", *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("FAKE_POSTHOG_URL="):
            raise RuntimeError(f"fake server did not start: {line!r}")
        yield line.split("=", 1)[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def control(url: str, path: str, *, method: str = "GET", timeout: float = 10) -> Any:
    """Call a ``/_fake/*`` control endpoint; return its JSON (also for a 408 from /_fake/wait)."""
    request = urllib.request.Request(url + path, data=b"{}" if method == "POST" else None, method=method)
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def events_named(url: str, name: str) -> int:
    """How many accepted events called ``name`` the server has recorded."""
    count = 0
    for request in control(url, "/_fake/requests"):
        if request["path"].rstrip("/") == "/batch" and request["status"] == 200 and request["json"]:
            count += sum(1 for message in request["json"]["batch"] if message.get("event") == name)
    return count


# --- running one case under one interpreter -------------------------------------------------


def run_case(python: Path, script: str, url: str, timeout: float) -> Optional[dict[str, Any]]:
    """Run ``script`` (which prints one JSON line) under ``python``; None if it timed out or failed."""
    # Ours is imported from the repository; the reference from its own site-packages.
    with tempfile.TemporaryDirectory() as neutral:
        cwd = REPO if python == OURS else Path(neutral)
        try:
            proc = subprocess.run(
                [str(python), "-c", script, url],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        sys.stderr.write(f"{python}: no result (exit {proc.returncode})\n{proc.stderr[-2000:]}\n")
        return None
    result: dict[str, Any] = json.loads(lines[-1])
    return result


_PRELUDE = r"""
import json, os, sys, threading, time
import posthog
from posthog import Posthog

def bounded(fn, seconds):
    # Run fn in a daemon thread; True if it returned within ``seconds``.
    worker = threading.Thread(target=fn, daemon=True)
    worker.start()
    worker.join(seconds)
    return not worker.is_alive()
"""

FORK = (
    _PRELUDE
    + r"""
client = Posthog("phc_bench", host=sys.argv[1])
client.capture("parent", "parent-before")
bounded(client.flush, 10)
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    for i in range(10):
        client.capture("child", "child-event", {"i": i})
    returned = bounded(client.flush, 5)
    os.write(write_end, json.dumps({"child_flush_returned": returned}).encode())
    os._exit(0)
os.close(write_end)
os.waitpid(pid, 0)
child = json.loads(os.read(read_end, 65536) or b"{}")
print(json.dumps(child), flush=True)
os._exit(0)
"""
)

EXIT = (
    _PRELUDE
    + r"""
client = Posthog("phc_bench", host=sys.argv[1])
for i in range(1000):
    client.capture("someone", "exit-event", {"i": i})
print("{}", flush=True)
"""
)

SILENT = (
    _PRELUDE
    + r"""
lost = []
client = Posthog("phc_bench", host=sys.argv[1], on_error=lambda error, batch: lost.append(len(batch)))
for i in range(100):
    client.capture("someone", "event", {"i": i})
started = time.monotonic()
client.shutdown()
print(json.dumps({"seconds": time.monotonic() - started, "lost": sum(lost)}), flush=True)
os._exit(0)
"""
)

OVERSIZED = (
    _PRELUDE
    + r"""
client = Posthog("phc_bench", host=sys.argv[1])
client.capture("someone", "big", {"blob": "x" * (1024 * 1024)})
for i in range(10):
    client.capture("someone", "after", {"i": i})
print(json.dumps({"flush_returned": bounded(client.flush, 10)}), flush=True)
os._exit(0)
"""
)

COMPLEX = (
    _PRELUDE
    + r"""
client = Posthog("phc_bench", host=sys.argv[1])
client.capture("someone", "complex", {"c": 1j})
for i in range(10):
    client.capture("someone", "after", {"i": i})
print(json.dumps({"flush_returned": bounded(client.flush, 5)}), flush=True)
os._exit(0)
"""
)


def yes_no(value: Optional[bool]) -> str:
    return "?" if value is None else ("yes" if value else "no")


def measure(python: Path, url: str, silent_url: str) -> dict[str, str]:
    """All cases under one interpreter; returns display strings by row label."""
    rows: dict[str, str] = {}

    control(url, "/_fake/reset", method="POST")
    fork = run_case(python, FORK, url, timeout=30)
    control(url, "/_fake/wait?events=11&timeout=2")
    rows["fork: child events delivered (of 10)"] = str(events_named(url, "child-event"))
    rows["fork: child flush() returned within 5 s"] = yes_no(fork and fork.get("child_flush_returned"))

    control(url, "/_fake/reset", method="POST")
    run_case(python, EXIT, url, timeout=60)
    rows["exit after 1000 captures: delivered"] = str(control(url, "/_fake/stats")["events"])

    started = time.monotonic()
    silent = run_case(python, SILENT, silent_url, timeout=SILENT_CAP)
    if silent is None:
        seconds = time.monotonic() - started
        rows["silent server: shutdown() seconds"] = (
            f">{SILENT_CAP:.0f}" if seconds >= SILENT_CAP else "failed"
        )
        rows["silent server: events reported lost (of 100)"] = "?"
    else:
        rows["silent server: shutdown() seconds"] = f"{silent['seconds']:.1f}"
        rows["silent server: events reported lost (of 100)"] = str(silent["lost"])

    control(url, "/_fake/reset", method="POST")
    oversized = run_case(python, OVERSIZED, url, timeout=30)
    control(url, "/_fake/wait?events=10&timeout=2")
    rows["1 MiB event + 10: normal ones delivered (of 10)"] = str(events_named(url, "after"))
    rows["1 MiB event + 10: flush() returned within 10 s"] = yes_no(
        oversized and oversized.get("flush_returned")
    )

    control(url, "/_fake/reset", method="POST")
    run_case(python, COMPLEX, url, timeout=30)
    control(url, "/_fake/wait?events=11&timeout=2")
    rows["1j event + 10: delivered (of 11)"] = str(control(url, "/_fake/stats")["events"])
    return rows


def main() -> int:
    for python in (OURS, REFERENCE):
        if not python.exists():
            sys.stderr.write(f"missing interpreter: {python}\n")
            return 1
    with fake_server() as url, fake_server("--silent") as silent_url:
        reference = measure(REFERENCE, url, silent_url)
        ours = measure(OURS, url, silent_url)
    width = max(len(label) for label in ours)
    print(f"{'case':<{width}} | posthog 3.25.0 | ours")
    print(f"{'-' * width}-|----------------|------")
    for label, value in ours.items():
        print(f"{label:<{width}} | {reference[label]:<14} | {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
