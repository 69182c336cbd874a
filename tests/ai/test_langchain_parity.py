"""posthog.ai.langchain against posthog 3.25.0, both on langchain 0.3 (what 3.25.0 supports).

Our handler runs from this checkout with ``.venv-ref``'s interpreter and SDKs, so only the
handlers differ; generated run ids are compared by their order of appearance.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ai.parity import REF_PYTHON, differences, normalize_run_ids, ref_ready, run_scenario
from tests.fake_llm import Failure, FakeLLM, Reply, Usage

FIXES = {
    (1, "$ai_cache_read_input_tokens"),  # cache-read tokens were dropped
}


def _script(llm: FakeLLM) -> None:
    llm.clear_script()
    llm.script(
        Reply(text="Cats purr.", usage=Usage(20, 4, cached_tokens=5)),
        Reply(text="Hello"),
        Failure(400, message="no dogs today"),
    )


@pytest.mark.skipif(not ref_ready("langchain"), reason="make ref-venv installs 3.25.0 with langchain 0.3")
def test_same_events_as_3_25_0_but_for_the_listed_fixes(tmp_path: Path) -> None:
    # A fresh provider per side: the response ids it generates end up in the states.
    with FakeLLM() as llm:
        _script(llm)
        ours = run_scenario(REF_PYTHON, tmp_path, llm, "langchain_scenario.py", ours_on_old_sdks=True)
    with FakeLLM(port=llm.port) as llm:
        _script(llm)
        ref = run_scenario(REF_PYTHON, tmp_path, llm, "langchain_scenario.py")
    assert ours[0]["properties"]["$lib_version"] != "3.25.0"  # ours really ran
    normalize_run_ids(ours)
    normalize_run_ids(ref)
    assert differences(ref, ours) == FIXES
    errors = [(e["event"], e["properties"]["$ai_error"]) for e in ours if "$ai_error" in e["properties"]]
    assert [event for event, _ in errors] == ["$ai_generation", "$ai_trace", "$ai_span", "$ai_trace"]
    assert errors[0][1].startswith("BadRequestError: Error code: 400") and errors[-1][1] == "LookupError"
