"""``python -m benchmarks.run --smoke`` runs end to end, with or without the reference venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HAVE_REF = (REPO / ".venv-ref" / "bin" / "python").exists()
ROWS = {
    "capture_us",
    "peak_rss_mib",
    "throughput_plain_eps",
    "throughput_gzip_eps",
    "throughput_v1_plain_eps",
    "throughput_v1_zstd_eps",
    "flag_hard_one_us",
    "flag_hard_all_us",
    "flag_hard_payloads_us",
    "flag_one_us",
    "flag_all_us",
    "import_ms",
    "shutdown_s",
    "capture_enriched_us",
    "burst_2k_pct",
    "backlog_capture_us",
    "backlog_peak_rss_mib",
    "async_route_rps",
    "async_capture_us",
    "loop_gap_ms",
    "fleet_definitions_per_min_n1",
    "fleet_definitions_per_min_n2",
}


def _bench(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, dict[str, object]]:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--json", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,  # a smoke run takes about 30 s, beside three other test workers on two cores
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())


def _bench_lines(stdout: str) -> dict[str, str]:
    lines = [line for line in stdout.splitlines() if line.startswith("BENCH ")]
    return {line.split()[1].removeprefix("row="): line for line in lines}


@pytest.mark.timeout(150)
def test_smoke_run_reports_every_row_and_nothing_invalid(tmp_path: Path) -> None:
    stdout, document = _bench(tmp_path)

    lines = _bench_lines(stdout)
    assert set(lines) >= ROWS
    assert any(name.startswith("growth_capture_") for name in lines)
    assert any(name.startswith("growth_all_flags_") for name in lines)
    assert not [line for line in lines.values() if "invalid=yes" in line]  # lost events or differing flags
    assert all(" ours=-" not in line for line in lines.values())
    assert document["reference"] == ("3.25.0" if HAVE_REF else None)
    if not HAVE_REF:
        assert "measuring ours only" in stdout


@pytest.mark.timeout(150)
def test_smoke_run_without_reference_measures_ours_only(tmp_path: Path) -> None:
    env = {**os.environ, "POSTHOG_BENCH_REF_PYTHON": str(tmp_path / "missing-python")}

    stdout, document = _bench(tmp_path, "--rows", "1,3,3e,4", env=env)

    assert "measuring ours only" in stdout
    assert document["reference"] is None
    lines = _bench_lines(stdout)
    assert {"capture_us", "flag_hard_all_us", "flag_one_us", "flag_all_us", "import_ms"} <= set(lines)
    assert all("ratio=- " in line and " ours=-" not in line for line in lines.values())
