"""Running the same scenario with our package and with posthog 3.25.0, and comparing the events."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.fake_llm import FakeLLM
from tests.fake_server import FakePostHog

REPO = Path(__file__).resolve().parents[2]
REF_PYTHON = REPO / ".venv-ref" / "bin" / "python"
HERE = Path(__file__).parent

# Values that differ by nature: timing, generated ids, versions, the machine.
VOLATILE = frozenset(
    {"$ai_latency", "$lib_version", "$python_version", "$os", "$os_version", "$python_runtime"}
)
#: Text an SDK writes itself (``str()`` of its exceptions): compared only when both sides ran one SDK.
SDK_TEXT = frozenset({"$ai_error"})


def run_scenario(
    python: Path, cwd: Path, llm: FakeLLM, scenario: str, *, ours_on_old_sdks: bool = False
) -> list[dict[str, Any]]:
    """Run ``scenario`` (a file beside this one) with ``python``; return the events PostHog got.

    ``ours_on_old_sdks``: run our package from this checkout with ``python``'s SDKs (``.venv-ref``'s).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if ours_on_old_sdks:
        env["PYTHONPATH"] = str(REPO)
    with FakePostHog() as posthog_server:
        done = subprocess.run(
            [str(python), str(HERE / scenario), llm.url, posthog_server.url],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return posthog_server.events()


def ref_ready(module: str) -> bool:
    """Whether .venv-ref has posthog 3.25.0 and the SDK ``module`` wraps."""
    if not REF_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(REF_PYTHON), "-c", f"import posthog.ai.{module}"], cwd="/", capture_output=True, timeout=60
    )
    return probe.returncode == 0


_ID_KEYS = ("$ai_trace_id", "$ai_span_id", "$ai_parent_id")


def normalize_run_ids(events: list[dict[str, Any]]) -> None:
    """Replace generated run ids (LangChain) by their order of first appearance, wherever they occur."""
    seen: dict[str, str] = {}
    for event in events:
        for key in _ID_KEYS:
            value = event["properties"].get(key)
            if isinstance(value, str):
                seen.setdefault(value, f"run-{len(seen)}")
    for index, event in enumerate(events):
        text = json.dumps(event)
        for raw, alias in seen.items():
            text = text.replace(raw, alias)
        events[index] = json.loads(text)


def differences(
    ref: list[dict[str, Any]], ours: list[dict[str, Any]], volatile: frozenset[str] = VOLATILE
) -> set[tuple[int, str]]:
    """(event index, property) pairs that differ, ``volatile`` values aside (present on both or neither)."""
    assert [(e["event"], e["distinct_id"]) for e in ours] == [(e["event"], e["distinct_id"]) for e in ref]
    found = []
    for index, (a, b) in enumerate(zip(ref, ours)):
        pa, pb = a["properties"], b["properties"]
        if "$ai_trace_id" not in pa or pa["$ai_trace_id"] != "trace-2":
            pa.pop("$ai_trace_id", None)
            pb.pop("$ai_trace_id", None)
        for key in sorted(set(pa) | set(pb)):
            if key in volatile:
                assert (key in pa) == (key in pb), (index, key)
                continue
            if pa.get(key, "<absent>") != pb.get(key, "<absent>"):
                found.append((index, key))
    return set(found)
