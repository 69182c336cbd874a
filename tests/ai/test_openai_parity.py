"""posthog.ai.openai against posthog 3.25.0: the same calls, the same events, but for listed fixes.

Runs ``openai_scenario.py`` with our package (``.venv``) and with 3.25.0 (``.venv-ref``, where
``make ref-venv`` installs the OpenAI SDK of its day, 1.75) against the same fake provider, each
with its own fake PostHog, and compares the events property by property.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fake_llm import Failure, FakeLLM, Reply, ToolCall, Usage
from tests.fake_server import FakePostHog

REPO = Path(__file__).resolve().parents[2]
REF_PYTHON = REPO / ".venv-ref" / "bin" / "python"
SCENARIO = Path(__file__).with_name("openai_scenario.py")

# Values that differ by nature: timing, generated ids, versions, the machine, the SDK's own text.
VOLATILE = {
    "$ai_latency",
    "$lib_version",
    "$python_version",
    "$os",
    "$os_version",
    "$python_runtime",
    "$ai_error",
}

# (event index, property) where we deliberately differ from 3.25.0 (CHANGELOG "Differs from posthog 3.x").
FIXES = {
    (0, "$ai_reasoning_tokens"),  # reasoning tokens were never reported
    (5, "$ai_output_choices"),  # tool calls were missing from the output
    (5, "$ai_tools"),  # 3.25.0 put the response's tool calls here, not the request's tool definitions
    (7, "$ai_output_choices"),
    (7, "$ai_tools"),
    (7, "$ai_reasoning_tokens"),
    (8, "$ai_input"),  # streamed Responses: the input as messages, like the non-streamed call
    (8, "$ai_input_tokens"),  # streamed Responses reported 0 tokens
    (8, "$ai_output_tokens"),
    (8, "$ai_output_choices"),  # streamed Responses sent raw output items
    (10, "$ai_input"),  # instructions were missing from streamed Responses
    (10, "$ai_instructions"),
    (10, "$ai_input_tokens"),
    (10, "$ai_output_tokens"),
    (10, "$ai_output_choices"),
}


def _script(llm: FakeLLM) -> None:
    llm.clear_script()
    llm.script(
        Reply(text="Hello!", usage=Usage(12, 3, cached_tokens=4, reasoning_tokens=2)),
        Reply(text="Two"),
        Reply(text="streamed", chunks=3, usage=Usage(7, 2)),
        Reply(),
        Reply(text="done", usage=Usage(9, 4)),
        Reply(tool_calls=[ToolCall("weather", {"city": "Paris"}, id="call_1")]),
        Reply(text="secret"),
        Reply(
            tool_calls=[ToolCall("weather", {"city": "Oslo"}, id="call_2")],
            chunks=2,
            usage=Usage(8, 3, reasoning_tokens=5),
        ),
        Reply(text="resp stream", usage=Usage(6, 5)),
        Reply(text="plain"),
        Reply(text="with instr"),
        Failure(400, message="bad"),
    )


def _run(python: Path, cwd: Path, llm: FakeLLM) -> list[dict[str, Any]]:
    _script(llm)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    with FakePostHog() as posthog_server:
        done = subprocess.run(
            [str(python), str(SCENARIO), llm.url, posthog_server.url],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return posthog_server.events()


def _ref_ready() -> bool:
    if not REF_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(REF_PYTHON), "-c", "import openai, posthog.ai.openai"], cwd="/", capture_output=True, timeout=60
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _ref_ready(), reason="make ref-venv installs posthog 3.25.0 with openai 1.x")
def test_same_events_as_3_25_0_but_for_the_listed_fixes(tmp_path: Path) -> None:
    with FakeLLM() as llm:
        ours = _run(Path(sys.executable), REPO, llm)
        ref = _run(REF_PYTHON, tmp_path, llm)

    assert [(e["event"], e["distinct_id"]) for e in ours] == [(e["event"], e["distinct_id"]) for e in ref]
    differences = []
    for index, (a, b) in enumerate(zip(ref, ours)):
        assert a.get("$groups") == b.get("$groups")
        pa, pb = a["properties"], b["properties"]
        if "$ai_trace_id" not in pa or pa["$ai_trace_id"] != "trace-2":
            pa.pop("$ai_trace_id", None)
            pb.pop("$ai_trace_id", None)
        for key in sorted(set(pa) | set(pb)):
            if key in VOLATILE:
                assert (key in pa) == (key in pb), (index, key)
                continue
            if pa.get(key, "<absent>") != pb.get(key, "<absent>"):
                differences.append((index, key))
    assert set(differences) == FIXES
