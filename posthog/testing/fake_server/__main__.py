"""Run the fake server alone: prints ``FAKE_POSTHOG_URL=<url>`` once, then serves until stopped.

Usage (from the repository root)::

    python -m posthog.testing.fake_server [--port 0] [--max-seconds 600] [--no-record] [--silent]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .scenarios import SilentServer
from .server import FakePostHog


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m posthog.testing.fake_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop by itself after this long")
    parser.add_argument("--no-record", action="store_true", help="count requests and events, keep no bodies")
    parser.add_argument("--silent", action="store_true", help="accept connections and never answer")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT or --max-seconds; returns the exit status."""
    args = _parse_args(argv)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server: FakePostHog | SilentServer
    if args.silent:
        server = SilentServer(port=args.port, max_lifetime=args.max_seconds)
    else:
        server = FakePostHog(port=args.port, record=not args.no_record, max_lifetime=args.max_seconds)
    with server:
        sys.stdout.write(f"FAKE_POSTHOG_URL={server.url}\n")
        sys.stdout.flush()
        while not stop.wait(0.1) and not server.closed:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
