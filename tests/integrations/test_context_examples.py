"""examples/contexts/*.py run as documented: real servers, a fake PostHog, the ids each request carried."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "contexts"


@pytest.mark.parametrize(
    ("example", "framework"),
    [("flask_app.py", "flask"), ("fastapi_app.py", "fastapi"), ("django_app.py", "django")],
)
def test_the_example_attributes_each_request_to_its_own_visitor(example: str, framework: str) -> None:
    pytest.importorskip(framework)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / example)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout

    assert "GET /checkout                ada    -> 200" in out
    assert "GET /boom                    grace  -> 500" in out
    assert "PostHog received 4 events:" in out
    lines = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert lines[0].startswith("$feature_flag_called   ada           {'$session_id': 'session-ada'")
    assert lines[1].startswith("checkout viewed        ada           {'$session_id': 'session-ada'")
    assert "'new_checkout': True" in lines[1]
    # the visitor nobody knows: personless, and no one else's session
    assert lines[2].startswith("checkout viewed        (personless)  {'$current_url'")
    assert "'new_checkout': False" in lines[2]
    assert lines[3].startswith("$exception             grace         {'$session_id': 'session-grace'")
    assert "'$exception_type': 'RuntimeError'" in lines[3]
    assert "s3cret" not in "\n".join(lines)  # the query string is not part of $current_url
