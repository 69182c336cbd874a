"""Events captured in multiprocessing workers arrive, although those processes end with os._exit().

weaknesses.md §A 3 and §B 10: Celery prefork and multiprocessing workers skip atexit hooks.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_server import FakePostHog

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(os.name != "posix", reason="fork start method")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_worker_process_delivers_its_events_on_exit(method: str, fake_server: FakePostHog) -> None:
    from tests._mp_worker import capture_ten

    context = multiprocessing.get_context(method)
    process = context.Process(target=capture_ten, args=(fake_server.url, method))
    process.start()
    process.join(timeout=30)

    assert process.exitcode == 0
    events = fake_server.wait_for_events(10, timeout=5)
    assert sorted(e["distinct_id"] for e in events) == sorted(f"{method}-{i}" for i in range(10))


SCRIPT = r"""
import multiprocessing, sys
import posthog
from tests._mp_worker import facade_capture_ten

posthog.project_api_key = "phc_test_key"
posthog.host = sys.argv[1]
posthog.capture("parent", "before the pool")   # the default client exists before the fork
posthog.flush()
pool = multiprocessing.get_context("fork").Pool(2)
pool.map(facade_capture_ten, ["pool-a", "pool-b"])
pool.close()  # workers end normally (terminate() would kill them: use posthog.scope_flush there)
pool.join()
posthog.shutdown(5)
"""


def test_a_pool_created_after_the_client_delivers_every_worker_event(fake_server: FakePostHog) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, fake_server.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert proc.returncode == 0, proc.stderr
    events = fake_server.wait_for_events(21, timeout=10)
    names = sorted(e["event"] for e in events)
    assert names == ["before the pool"] + ["pool-a event"] * 10 + ["pool-b event"] * 10
