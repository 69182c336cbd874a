"""posthog.ai.openai against posthog 3.25.0: the same calls, the same events, but for listed fixes.

Runs ``openai_scenario.py`` with our package (``.venv``) and with 3.25.0 (``.venv-ref``, where
``make ref-venv`` installs the OpenAI SDK of its day, 1.75) against the same fake provider, each
with its own fake PostHog, and compares the events property by property.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.ai.parity import REF_PYTHON, REPO, SDK_TEXT, VOLATILE, differences, ref_ready, run_scenario
from tests.fake_llm import Failure, FakeLLM, Reply, ToolCall, Usage

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


@pytest.mark.skipif(not ref_ready("openai"), reason="make ref-venv installs posthog 3.25.0 with openai 1.x")
def test_same_events_as_3_25_0_but_for_the_listed_fixes(tmp_path: Path) -> None:
    with FakeLLM() as llm:
        _script(llm)
        ours = run_scenario(Path(sys.executable), REPO, llm, "openai_scenario.py")
        _script(llm)
        ref = run_scenario(REF_PYTHON, tmp_path, llm, "openai_scenario.py")
        _script(llm)
        ours_old_sdk = run_scenario(REF_PYTHON, tmp_path, llm, "openai_scenario.py", ours_on_old_sdks=True)
    # On today's SDK the error text is that SDK's own; on 3.25.0's SDK it must be the same text.
    assert differences(ref, ours, VOLATILE | SDK_TEXT) == FIXES
    assert ours_old_sdk[0]["properties"]["$lib_version"] != "3.25.0"  # ours really ran
    assert differences(ref, ours_old_sdk) == FIXES
    assert "$ai_error" in ref[-1]["properties"]
