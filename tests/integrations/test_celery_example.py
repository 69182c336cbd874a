"""``python examples/celery_app/run_demo.py`` runs as documented: a real worker, a filesystem broker."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("celery")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_celery_demo_shows_each_event_with_the_user_who_sent_the_task() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTHOG_", "CELERY_"))}
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", "celery_app", "run_demo.py")],
        capture_output=True,
        text=True,
        timeout=45,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"task \w{8} -> 'sent welcome-v2'", out)
    assert re.search(r"task \w{8} -> CardDeclined\('card declined for 4200'\)", out)
    assert "worker exited with 0" in out
    assert "PostHog received 13 events:" in out

    lines = [line.split() for line in out.splitlines() if line.startswith("  ")]
    ada = {" ".join(words[: words.index("ada@example.com")]) for words in lines if "ada@example.com" in words}
    assert ada == {
        "welcome email sent",
        "payment attempted",
        "celery task published",
        "celery task started",
        "celery task success",
        "celery task failure",
        "$exception",
    }
    for words in lines:
        if "ada@example.com" in words:
            assert "plan=pro" in words and "$session_id=session-42" in words
    personless = {
        " ".join(words[: words.index("(personless)")]) for words in lines if "(personless)" in words
    }
    assert personless == {
        "inventory synced",
        "celery task published",
        "celery task started",
        "celery task success",
    }
    assert "celery task failure    ada@example.com" in out and "error_type=CardDeclined" in out
    assert len(lines) == 13
