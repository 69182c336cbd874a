"""The examples run as documented (each starts its own fake server)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_example(*path: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("POSTHOG_HOST", "DJANGO_SETTINGS_MODULE")}
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", *path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart() -> None:
    out = run_example("quickstart.py")

    assert "received 6 events" in out
    for event in ("viewed pricing", "$create_alias", "$identify", "$set_once", "$groupidentify"):
        assert event in out
    assert "'$groups': {'company': 'acme'}" in out


def test_django_demo() -> None:
    pytest.importorskip("django")
    pytest.importorskip("sentry_sdk")

    out = run_example("django_app", "run_demo.py")

    assert "GET /checkout/      -> 200" in out
    assert "GET /new-checkout/  -> 200 b'{\"new-checkout\": true}'" in out
    assert "GET /boom/          -> 500" in out
    assert "posthog_distinct_id='ada@example.com'" in out
    assert "/project/phc_demo_project_key/person/ada@example.com'" in out
    assert "checkout completed" in out
    assert '"$feature_flag_response": true' in out
    assert '"$sentry_exception": ["PaymentDeclinedError: card declined"]' in out
    assert '"$sentry_url": "https://sentry.io/organizations/demo-org/issues/?project=1&query=' in out


def test_feature_flags_example() -> None:
    out = run_example("feature_flags.py")

    lines = {line.split("->")[0].strip(): line for line in out.splitlines() if "->" in line}
    assert "True" in lines["new-dashboard for ada {'plan': 'pro', 'region': 'eu'}"]
    assert "decided locally" in lines["new-dashboard for ada {'plan': 'pro', 'region': 'eu'}"]
    assert "False" in lines["new-dashboard for bob {'plan': 'free', 'region': 'us'}"]
    assert "Simple pricing" in lines["pricing-page payload for ada"]
    assert "asked the server" in lines["onboarding-v2 for ada"]
    assert "$feature_flag_called events sent: 4" in out


def test_llm_openai_example() -> None:
    pytest.importorskip("openai")

    out = run_example("llm_openai.py")

    assert "answer: Hello from the fake LLM." in out
    assert "streamed: Hello from the fake LLM." in out
    lines = [line for line in out.splitlines() if line.startswith("$ai_")]
    assert [line.split()[0] for line in lines] == ["$ai_generation", "$ai_generation", "$ai_embedding"]
    assert lines[0].split()[1] == "user-1"
    assert '"$ai_input_tokens"' in lines[0]


@pytest.mark.parametrize("name", ["quickstart.py", "feature_flags.py", "aws_lambda.py", "celery_task.py"])
def test_examples_run_without_the_checkouts_tests(name: str, tmp_path: Path) -> None:
    # Copied out of the checkout: only the installed package is importable, not `tests`.
    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy(os.path.join(REPO, "examples", name), examples / name)
    env = {k: v for k, v in os.environ.items() if k not in ("POSTHOG_HOST", "PYTHONPATH")}
    result = subprocess.run(
        [sys.executable, str(examples / name)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "No module named 'tests'" not in result.stderr


def test_make_demo_runs_and_shows_contexts_and_flag_results() -> None:
    pytest.importorskip("httpx")
    out = run_example("demo.py")

    assert "== Request contexts" in out
    assert "get_feature_flag_result -> FeatureFlagResult(key='checkout-test'" in out
    sent = [line for line in out.splitlines() if line.strip().startswith("checkout started")]
    assert len(sent) == 1 and "user-5" in sent[0] and '"$session_id": "session-5"' in sent[0]
    assert '"route": "/checkout"' in sent[0]
