"""A real gunicorn (``gthread`` worker: reused threads) serving a WSGI app on 127.0.0.1, bounded in time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Optional

__all__ = ["Gunicorn"]

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gunicorn:
    """``with Gunicorn("pkg.module:app", env={...}) as base_url:`` one worker, ``threads`` threads."""

    def __init__(
        self, app: str, env: Mapping[str, str], threads: int = 4, ready_path: str = "/ready"
    ) -> None:
        self.port = _free_port()
        self.app = app
        self.env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
        self.threads = threads
        self.ready_path = ready_path
        self.proc: Optional[subprocess.Popen[str]] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> str:
        args = [
            sys.executable, "-m", "gunicorn",
            "--bind", f"127.0.0.1:{self.port}",
            "--worker-class", "gthread", "--workers", "1", "--threads", str(self.threads),
            "--graceful-timeout", "10", "--log-level", "warning",
            self.app,
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, cwd=REPO, env=self.env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.stop()}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as answer:
                    if answer.status == 200:
                        return self.url
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("gunicorn did not start within 30 s")
            time.sleep(0.05)

    def stop(self) -> str:
        """SIGTERM (graceful: exit hooks run), SIGKILL after 15 s; returns gunicorn's stderr."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
        return err or ""

    def __exit__(
        self, kind: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.stop()
