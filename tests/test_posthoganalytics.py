"""The same source tree works under the twin top-level name ``posthoganalytics`` (api.md §10)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import posthog
from tests.fake_server import FakePostHog

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import posthoganalytics
from posthoganalytics.testing import RecordingClient

posthoganalytics.project_api_key = "phc_twin"
posthoganalytics.host = sys.argv[2]
ok, msg = posthoganalytics.capture("user-1", "twin event", {"n": 1})
client = posthoganalytics.Posthog("phc_twin", host=sys.argv[2])
client.identify("user-1", {"email": "a@b.c"})
client.shutdown(5)
posthoganalytics.shutdown(5)
recorder = RecordingClient()
recorder.capture("u", "recorded")
print(json.dumps({
    "ok": ok,
    "all": sorted(posthoganalytics.__all__),
    "client_module": type(client).__module__,
    "recorded": recorder.events[0]["event"],
    "posthog_imported": "posthog" in sys.modules,
}))
"""


@pytest.mark.skipif(os.name != "posix", reason="uses a symlink to rename the package")
def test_the_package_runs_as_posthoganalytics(tmp_path: Path, fake_server: FakePostHog) -> None:
    (tmp_path / "posthoganalytics").symlink_to(ROOT / "posthog", target_is_directory=True)

    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), fake_server.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )

    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] is True
    assert result["all"] == sorted(posthog.__all__)
    assert result["client_module"] == "posthoganalytics.client"
    assert result["recorded"] == "recorded"
    # Every import inside the package is relative: nothing pulled in the `posthog` name.
    assert result["posthog_imported"] is False
    events = fake_server.wait_for_events(2, timeout=5)
    assert sorted(e["event"] for e in events) == ["$identify", "twin event"]
    assert {e["properties"]["$lib"] for e in events} == {"posthog-python"}


def test_setup_builds_the_twin_distribution_on_request(tmp_path: Path) -> None:
    # Built from a copy: the build writes its egg-info and build/ beside setup.py. setuptools is
    # part of the pinned test environment (make install puts it there: venv on 3.12+ does not).
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "posthog", source / "posthog", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, POSTHOG_DIST_NAME="posthoganalytics", PYTHONWARNINGS="ignore")
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp_path / "dist")]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *build, str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )

    assert proc.returncode == 0, proc.stderr
    [wheel] = (tmp_path / "dist").iterdir()
    assert wheel.name.startswith(f"posthoganalytics-{posthog.VERSION}-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "posthoganalytics/__init__.py" in names
    assert "posthoganalytics/py.typed" in names
    assert "posthoganalytics/feature_flags/__init__.py" in names
    assert not [name for name in names if name.startswith("posthog/")]
