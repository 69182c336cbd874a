"""What every benchmark row uses: the fake server process, the workload runner and the result row.

Kept apart from ``benchmarks/run.py`` so that the row modules (``run.py`` itself and
``_rows_delivery.py``) can share it without importing each other.
"""

from __future__ import annotations

import json
import math
import os
import select
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Optional

REPO: Final = Path(__file__).resolve().parents[1]
WORKLOADS: Final = REPO / "benchmarks" / "_workloads.py"
REF_VERSION: Final = "3.25.0"


@dataclass(frozen=True)
class Side:
    """One library: the interpreter that imports it and the directory it starts in."""

    name: str  # "ref" or "ours"
    python: str
    cwd: str


class WorkloadError(RuntimeError):
    """A measured subprocess failed, timed out or imported the wrong library."""


@dataclass
class Row:
    """One line of the result table."""

    group: str  # the --rows key: "1" ... "10", "1b" or "growth"
    name: str
    label: str
    unit: str
    target: str  # e.g. "<=0.10" (ratio ours/ref), ">=8" or "ours<=6.0s"; "-" for growth rows
    ref: Optional[float] = None
    ours: Optional[float] = None
    ratio: Optional[float] = None
    met: str = "n/a"
    note: str = ""
    ref_text: str = ""  # shown instead of ref when there is no number (skipped, killed)
    samples: dict[str, list[float]] = field(default_factory=dict)
    decimals: Optional[int] = None  # fixed decimals, truncated (99.996 % shows as 99.99, not 100.00)


def fmt(value: Optional[float], decimals: Optional[int] = None) -> str:
    """A table cell: ``-`` for no value, thousands separators above 1000, 3 significant digits below."""
    if value is None:
        return "-"
    if decimals is not None:
        scale = 10**decimals
        return f"{math.floor(value * scale) / scale:.{decimals}f}"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


# --- processes --------------------------------------------------------------------------------------


def ours_python() -> str:
    candidate = REPO / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    return env


def quiet_port() -> int:
    """A free port on 127.0.0.1 below the ephemeral range.

    A restarted server must get its port back: one inside the ephemeral range could meanwhile be
    taken by an outgoing connection (a client retrying against the closed port can even connect
    to itself), so pick one the kernel never hands out on its own.
    """
    low = 32768
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    first = max(1024, low - 12000)
    start = first + os.getpid() % max(1, low - first)
    for offset in range(low - first):
        port = first + (start - first + offset) % (low - first)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise WorkloadError("no free port below the ephemeral range")


class FakeServer:
    """``python -m tests.fake_server`` in its own process; ``url`` once it listens.

    ``record=False`` keeps only counters; ``record=True`` keeps the bodies (``accepted_events()``).
    """

    def __init__(
        self, *, silent: bool = False, max_seconds: float = 900.0, port: int = 0, record: bool = False
    ) -> None:
        args = [ours_python(), "-m", "tests.fake_server", "--max-seconds", str(max_seconds)]
        args.extend(["--port", str(port)])
        if silent:
            args.append("--silent")
        elif not record:
            args.append("--no-record")
        self._proc = subprocess.Popen(
            args, cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.url = self._read_url(deadline=time.monotonic() + 15)

    def _read_url(self, deadline: float) -> str:
        stdout = self._proc.stdout
        assert stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = stdout.readline()
            if not line:
                break
            if line.startswith("FAKE_POSTHOG_URL="):
                return line.strip().split("=", 1)[1]
        self.close()
        raise WorkloadError("the fake server did not start")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def control(self, method: str, path: str, body: Optional[Any] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self.control("POST", "/_fake/reset")
        self.control("POST", "/_fake/config", {"record": False})

    def events(self) -> int:
        return int(self.control("GET", "/_fake/stats")["events"])

    def wait_events(self, n: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for ``n`` accepted events; return how many arrived."""
        url = f"{self.url}/_fake/wait?events={n}&timeout={timeout}"
        try:
            with urllib.request.urlopen(url, timeout=timeout + 10) as response:
                return int(json.loads(response.read())["events"])
        except urllib.error.HTTPError as error:  # 408: fewer arrived; the body holds the stats
            return int(json.loads(error.read())["events"])

    def accepted_events(self) -> list[dict[str, Any]]:
        """Every message of the accepted batches (needs ``record=True``)."""
        events: list[dict[str, Any]] = self.control("GET", "/_fake/events")
        return events

    def v1_violations(self) -> list[str]:
        """Capture v1 protocol violations the server noticed since the last reset."""
        found: list[str] = self.control("GET", "/_fake/capture")["v1_violations"]
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux ``/proc``; 0.0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)


@contextmanager
def fake_server(*, silent: bool = False, max_seconds: float = 900.0) -> Iterator[FakeServer]:
    server = FakeServer(silent=silent, max_seconds=max_seconds)
    try:
        yield server
    finally:
        server.close()


@dataclass(frozen=True)
class Spawned:
    """A workload started by ``Runner.spawn``: its process and where its output goes."""

    side: Side
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def kill(self) -> None:
        """End the process if it still runs (it is ours: we started it)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


class Runner:
    """Runs workloads in fresh subprocesses and checks they imported the intended library."""

    def __init__(self, sides: Sequence[Side], workdir: Path) -> None:
        self.sides = list(sides)
        self.workdir = workdir
        self._counter = 0

    def order(self, rep: int) -> list[Side]:
        """Both sides, the reference first on even repetitions and ours first on odd ones."""
        return self.sides if rep % 2 == 0 else list(reversed(self.sides))

    def _params_file(self, params: dict[str, Any]) -> Path:
        self._counter += 1
        path = self.workdir / f"params-{self._counter}.json"
        path.write_text(json.dumps(params))
        return path

    def workload(self, side: Side, name: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        params_file = self._params_file(params)
        line = self._run(side, [str(WORKLOADS), name, str(params_file)], timeout)
        return self._parse(side, line)

    def spawn(self, side: Side, name: str, params: dict[str, Any]) -> Spawned:
        """Start a workload without waiting (for workloads that run side by side); see ``collect``."""
        params_file = self._params_file(params)
        out, err = params_file.with_suffix(".out"), params_file.with_suffix(".err")
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            process = subprocess.Popen(
                [side.python, str(WORKLOADS), name, str(params_file)],
                cwd=side.cwd,
                env=clean_env(),
                stdout=stdout,
                stderr=stderr,
            )
        return Spawned(side, process, out, err)

    def collect(self, spawned: Spawned, timeout: float) -> dict[str, Any]:
        """The result of a spawned workload; kills it after ``timeout`` seconds."""
        side, process = spawned.side, spawned.process
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            spawned.kill()
            raise WorkloadError(f"{side.name}: killed after {timeout:.0f}s") from exc
        for line in spawned.stdout.read_text(errors="replace").splitlines():
            if line.startswith("RESULT "):
                return self._parse(side, line[len("RESULT ") :])
        tail = spawned.stderr.read_text(errors="replace").strip().splitlines()[-3:]
        raise WorkloadError(f"{side.name}: exit {process.returncode}: {' | '.join(tail)}")

    def _parse(self, side: Side, line: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(line)
        self._check_library(side, str(result.get("version")), str(result.get("module")))
        return result

    def import_time(self, side: Side, code: str) -> float:
        seconds, version = self._run(side, ["-c", code], 30).split()
        self._check_library(side, version, None)
        return float(seconds)

    def _run(self, side: Side, args: list[str], timeout: float) -> str:
        try:
            done = subprocess.run(
                [side.python, *args],
                cwd=side.cwd,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise WorkloadError(f"{side.name}: killed after {timeout:.0f}s") from exc
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                return line[len("RESULT ") :]
        tail = done.stderr.strip().splitlines()[-3:]
        raise WorkloadError(f"{side.name}: exit {done.returncode}: {' | '.join(tail)}")

    @staticmethod
    def _check_library(side: Side, version: str, module: Optional[str]) -> None:
        if side.name == "ref" and version != REF_VERSION:
            raise WorkloadError(f"reference side imported posthog {version}, expected {REF_VERSION}")
        if side.name == "ours" and module is not None and not module.startswith(str(REPO / "posthog")):
            raise WorkloadError(f"our side imported posthog from {module}")


# --- results ----------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def finish(row: Row, *, higher_is_better: bool = False, limit: Optional[float] = None) -> Row:
    """Fill medians, the ours/ref ratio and whether the target is met."""
    row.ref = median(row.samples.get("ref", []))
    row.ours = median(row.samples.get("ours", []))
    if row.ref and row.ours is not None:
        row.ratio = row.ours / row.ref
    if row.note.startswith("INVALID"):
        row.met = "no"
    elif limit is not None and row.ratio is not None:
        row.met = "yes" if (row.ratio >= limit if higher_is_better else row.ratio <= limit) else "no"
    return row


def progress(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()
