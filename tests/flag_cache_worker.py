"""One process of a fleet (run as ``python -m tests.flag_cache_worker``) for tests/flag_cache/.

It builds a client sharing definitions through Redis, then every ``--tick`` seconds evaluates a
few flags for a few users locally and appends one JSON line to ``--out``: the time, the answers,
whether it leads and its poll counters. It stops after ``--seconds`` (or at SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from typing import Any

import posthog
from posthog.flag_cache import RedisFlagDefinitionCache

FLAGS = ("beta", "rollout", "variant")
USERS = tuple(f"user-{i}" for i in range(10))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--lock-ttl", type=float, default=3.0)
    parser.add_argument("--tick", type=float, default=0.1)
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()

    stop = False

    def on_term(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    provider = None
    if not args.no_cache:
        provider = RedisFlagDefinitionCache(
            url=args.redis, api_key="phc_fleet", lock_ttl=args.lock_ttl, socket_timeout=0.3
        )
    client = posthog.Client(
        "phc_fleet",
        host=args.host,
        personal_api_key="phx_fleet",
        poll_interval=args.poll,  # type: ignore[arg-type]
        flag_definition_cache_provider=provider,
    )
    deadline = time.monotonic() + args.seconds
    with open(args.out, "a", encoding="utf-8") as out:
        while not stop and time.monotonic() < deadline:
            answers = {
                f"{flag}:{user}": client.get_feature_flag(
                    flag, user, only_evaluate_locally=True, send_feature_flag_events=False
                )
                for flag in FLAGS
                for user in USERS
            }
            stats = client.flag_definitions_stats
            line = {
                "t": time.time(),
                "answers": answers,
                "leader": stats.leader,
                "polls": stats.polls,
                "cache_reads": stats.cache_reads,
            }
            out.write(json.dumps(line) + "\n")
            out.flush()
            time.sleep(args.tick)
    client.shutdown(timeout=2)


if __name__ == "__main__":
    main()
