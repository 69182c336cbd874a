"""The first remote lookups of a fresh ``AsyncPosthog`` do not stall the event loop (issue 23).

Nothing slow runs on the loop: the HTTP library's import and the TLS context are prepared once per
process on a short-lived thread. A fresh interpreter (nothing imported or built yet) makes 50
concurrent lookups against a ``/flags`` that answers in 1 s while a coroutine ticks every 10 ms;
the longest gap between ticks is the stall. The bound is generous (the target, in ``make bench``
row 14, is 100 ms; we measure 10-25 ms): when it is exceeded, the run is repeated in asyncio's
debug mode, which names every callback that held the loop for more than 50 ms.
"""

from __future__ import annotations

import json

import pytest

from tests.fake_server import FakePostHog
from tests.support.scripts import run_script

pytestmark = pytest.mark.serial  # a latency bound: alone, not beside three other workers

LIMIT_MS = 150

SCRIPT = """
import asyncio, json, logging, sys, time

debug = sys.argv[2] == "debug"
slow = []


class Slow(logging.Handler):
    def emit(self, record):
        slow.append(record.getMessage()[:300])


logging.getLogger("asyncio").addHandler(Slow())


async def main(url):
    import posthog

    loop = asyncio.get_running_loop()
    loop.slow_callback_duration = 0.05
    client = posthog.AsyncPosthog("phc_gap", host=url)
    gaps, running = [], True

    async def ticker():
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last - 0.01)
            last = now

    ticks = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    gaps.clear()
    answers = await asyncio.gather(*(client.get_feature_flag("beta", f"user-{i}") for i in range(50)))
    running = False
    await ticks
    await client.shutdown()
    print(json.dumps({"gap_ms": max(gaps) * 1000, "answers": sorted(set(map(str, answers))), "slow": slow}))


asyncio.run(main(sys.argv[1]), debug=debug)
"""


def _first_lookups(url: str, mode: str) -> dict[str, object]:
    result = run_script(SCRIPT, url, mode, timeout=60)
    answer: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_fifty_first_remote_lookups_do_not_stall_the_loop(fake_server: FakePostHog) -> None:
    fake_server.set_remote_flags({"beta": True})
    fake_server.set_delay("/flags", 1.0)

    measured = _first_lookups(fake_server.url, "plain")

    assert measured["answers"] == ["True"]
    gap = float(measured["gap_ms"])  # type: ignore[arg-type]
    if gap > LIMIT_MS:
        culprits = _first_lookups(fake_server.url, "debug")["slow"]
        pytest.fail(f"the loop stalled {gap:.0f} ms (limit {LIMIT_MS}); callbacks over 50 ms: {culprits}")
