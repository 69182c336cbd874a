"""A real ``redis-server`` for tests: a free 127.0.0.1 port, data in a temp dir, bounded start and stop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import IO, Optional

__all__ = ["RedisServer", "RedisServerMissing"]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class RedisServerMissing(RuntimeError):
    """The ``redis-server`` binary is not installed."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process; ``stop()`` then ``start()`` restarts it on the same port.

    ``pause()``/``resume()`` freeze it (SIGSTOP/SIGCONT) to play a hung server.
    """

    def __init__(self, binary: str = "redis-server") -> None:
        path = shutil.which(binary)
        if path is None:
            raise RedisServerMissing(
                f"{binary} is not installed: run `make redis-server` "
                "(or `apt-get install redis-server`) to run the flag cache tests"
            )
        self.binary = path
        self.port = 0
        self._dir: Optional[str] = None
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._log: Optional[IO[bytes]] = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def is_running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> str:
        """The server's stdout/stderr."""
        return os.path.join(self._tempdir(), "redis.log")

    def _tempdir(self) -> str:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="posthog-redis-")
        return self._dir

    def start(self) -> RedisServer:
        """Start (on the port used before, if any) and wait until it answers PING; returns self."""
        if self.is_running:
            return self
        first = self.port == 0
        for _ in range(3 if first else 1):  # a fresh free port may be taken by someone else meanwhile
            if first:
                self.port = _free_port()
            if self._launch():
                return self
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{self._log_tail()}")

    def _launch(self) -> bool:
        directory = self._tempdir()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap()
        command = [self.binary, "--port", str(self.port), "--bind", HOST, "--dir", directory]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self._proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if _answers_ping(self.port) and self._proc.poll() is None:
                return True
            time.sleep(0.02)
        self._reap()
        return False

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted (by the kernel) but nothing is answered."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within a few seconds. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # in case it is paused
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self._reap()

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop and delete the temp dir."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
