"""Send Celery tasks from PostHog contexts to a real worker and show what PostHog received.

    python examples/celery_app/run_demo.py

Starts a fake PostHog on 127.0.0.1, a ``celery worker`` (prefork, 2 processes) on a filesystem
broker in a temp dir (no server needed), sends three tasks (two from a "request" by
ada@example.com, one from no context), stops the worker (its pool processes flush in
``worker_process_shutdown``) and prints the events, with who they are about. Takes a few
seconds (30 at most).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, REPO]  # `tasks`, and `posthog` from the checkout

DEADLINE = 18.0  # seconds for the tasks; stopping the worker takes at most 11 more


def start_worker(env: dict[str, str], log_path: str) -> subprocess.Popen[bytes]:
    """``celery -A tasks worker``: 2 prefork pool processes; its output goes to ``log_path``."""
    command = [sys.executable, "-m", "celery", "-A", "tasks", "worker"]
    command += ["--pool", "prefork", "--concurrency", "2", "--loglevel", "WARNING"]
    command += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_worker(worker: subprocess.Popen[bytes]) -> int:
    """Warm shutdown (SIGTERM), bounded; SIGKILL for the worker's process group if it hangs."""
    worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(8)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        return worker.wait(3)


def describe(event: dict[str, Any]) -> str:
    props = event["properties"]
    who = "(personless)" if props.get("$process_person_profile") is False else event["distinct_id"]
    details = [f"{name}={props[name]}" for name in ("celery_task_name", "plan") if name in props]
    details += [f"{name}={props[name]}" for name in ("$session_id", "error_type") if name in props]
    return f"{event['event']:<22} {who:<20} {' '.join(details)}".rstrip()


def main() -> int:
    from posthog.testing import FakePostHog

    started = time.monotonic()
    with FakePostHog() as server, tempfile.TemporaryDirectory(prefix="celery-demo-") as queue_dir:
        for folder in ("messages", "control", "results"):
            os.makedirs(os.path.join(queue_dir, folder))
        os.environ.update(POSTHOG_HOST=server.url, CELERY_QUEUE_DIR=queue_dir)
        os.environ["PYTHONPATH"] = os.pathsep.join([HERE, REPO])
        log_path = os.path.join(queue_dir, "worker.log")
        worker = start_worker(dict(os.environ), log_path)
        finished = False
        try:
            import tasks

            from posthog.contexts import identify_context, new_context, set_context_session, tag

            with new_context(fresh=True):  # what a web integration does for a request by ada
                identify_context("ada@example.com")
                set_context_session("session-42")
                tag("plan", "pro")
                results = [tasks.send_welcome_email.delay("welcome-v2"), tasks.charge_card.delay(4200)]
            results.append(tasks.sync_inventory.delay())  # from no context

            for result in results:
                left = DEADLINE - (time.monotonic() - started)
                outcome = result.get(timeout=max(1.0, left), interval=0.1, propagate=False)
                print(f"task {result.id[:8]} -> {outcome!r}")
            finished = True
        finally:
            exit_code = stop_worker(worker)
            if "tasks" in sys.modules:  # this process's events ("celery task published")
                sys.modules["tasks"].posthog_client.shutdown()
            if not finished or exit_code != 0:
                with open(log_path, errors="replace") as log:
                    print("worker log:\n" + log.read()[-3000:], file=sys.stderr)
        print(f"worker exited with {exit_code}")
        print(f"PostHog received {len(server.events())} events:")
        for line in sorted(describe(event) for event in server.events()):
            print("  " + line)
    return 0 if exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
