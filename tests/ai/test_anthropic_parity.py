"""posthog.ai.anthropic against posthog 3.25.0 (anthropic 0.49): the same events, but for listed fixes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.ai.parity import REF_PYTHON, REPO, differences, ref_ready, run_scenario
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
    with FakeLLM() as llm:
        _script(llm)
        ours = run_scenario(Path(sys.executable), REPO, llm, "anthropic_scenario.py")
        _script(llm)
        ref = run_scenario(REF_PYTHON, tmp_path, llm, "anthropic_scenario.py")
    assert differences(ref, ours) == FIXES
