"""posthog.ai.anthropic against posthog 3.25.0 (anthropic 0.49): the same events, but for listed fixes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ai.parity import REF_PYTHON, REPO, SDK_TEXT, VOLATILE, differences, ref_ready, run_scenario
from tests.fake_llm import Failure, FakeLLM, Reply, Usage

# (event index, property) where we deliberately differ from 3.25.0 (CHANGELOG "Differs from posthog 3.x").
FIXES = {
    (2, "$ai_output_choices"),  # streaming lost the text
    (2, "$ai_input_tokens"),  # ... and the input and cache tokens
    (2, "$ai_cache_read_input_tokens"),
}


def _script(llm: FakeLLM) -> None:
    llm.clear_script()
    llm.script(
        Reply(text="Hello!", usage=Usage(12, 3, cached_tokens=4, cache_creation_tokens=2)),
        Reply(text="Two"),
        Reply(text="streamed", chunks=3, usage=Usage(7, 2, cached_tokens=1)),
        Failure(400, message="bad"),
    )


@pytest.mark.skipif(
    not ref_ready("anthropic"), reason="make ref-venv installs posthog 3.25.0 with anthropic 0.49"
)
def test_same_events_as_3_25_0_but_for_the_listed_fixes(tmp_path: Path) -> None:
    runs: list[list[dict[str, Any]]] = []
    port = 0  # the first run's, then the same: the base URL is reported
    # A fresh provider per run: the request ids it numbers end up in the error text.
    for python, cwd, old_sdks in (
        (sys.executable, REPO, False),
        (REF_PYTHON, tmp_path, False),
        (REF_PYTHON, tmp_path, True),
    ):
        with FakeLLM(port=port) as llm:
            port = llm.port
            _script(llm)
            runs.append(
                run_scenario(Path(python), cwd, llm, "anthropic_scenario.py", ours_on_old_sdks=old_sdks)
            )
    ours, ref, ours_old_sdk = runs
    # On today's SDK the error text is that SDK's own; on 3.25.0's SDK it must be the same text.
    assert differences(ref, ours, VOLATILE | SDK_TEXT) == FIXES
    assert ours_old_sdk[0]["properties"]["$lib_version"] != "3.25.0"  # ours really ran
    assert differences(ref, ours_old_sdk) == FIXES
    assert "$ai_error" in ref[-1]["properties"]
