"""Optional dependencies stay optional; a missing one gives a clear error (STYLE.md §13).

Each case runs in a fresh interpreter, where ``sys.modules[name] = None`` makes
``import name`` fail exactly as if the package were not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(code: str, *, block: tuple[str, ...] = ()) -> str:
    prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in block)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = REPO
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_posthog_and_its_integration_packages_loads_no_framework() -> None:
    out = run(
        """
        import posthog, posthog.sentry, posthog.integrations, posthog.exception_integrations
        import posthog.exception_capture, posthog.exception_utils
        print(sorted(m for m in ("django", "sentry_sdk", "asgiref") if m in sys.modules))
        print(posthog.sentry.POSTHOG_ID_TAG)
        """
    )
    assert out.splitlines() == ["[]", "posthog_distinct_id"]


def import_error(module: str) -> str:
    return f"""
        try:
            import {module}
        except Exception as e:
            print(type(e).__name__, "|", e)
        else:
            print("imported")
        """


@pytest.mark.parametrize(
    ("module", "blocked", "expected"),
    [
        (
            "posthog.integrations.django",
            ("django",),
            "ImportError | Django not installed; pip install 'posthog[django]'",
        ),
        (
            "posthog.exception_integrations.django",
            ("django",),
            "IntegrationEnablingError | Django not installed; pip install 'posthog[django]'",
        ),
        (
            "posthog.sentry.posthog_integration",
            ("sentry_sdk",),
            "ImportError | sentry-sdk not installed; pip install 'posthog[sentry]'",
        ),
        (
            "posthog.sentry.django",
            ("django",),
            "ImportError | Django and sentry-sdk are required; pip install 'posthog[sentry]'",
        ),
    ],
    ids=["middleware", "autocapture-integration", "sentry-integration", "sentry-middleware"],
)
def test_missing_dependency_names_the_extra(module: str, blocked: tuple[str, ...], expected: str) -> None:
    assert run(import_error(module), block=blocked) == expected


def test_client_with_django_autocapture_but_no_django_logs_and_works() -> None:
    out = run(
        """
        import logging
        records = []
        class Keep(logging.Handler):
            def emit(self, record):
                records.append(record.getMessage())
        logging.getLogger("posthog").addHandler(Keep())
        from posthog import Client, Integrations
        client = Client("phc_test", send=False, enable_exception_autocapture=True,
                        exception_autocapture_integrations=[Integrations.Django])
        client.shutdown(timeout=1)
        print([m for m in records if "Django" in m])
        """,
        block=("django",),
    )
    assert (
        out
        == "[\"Failed to enable Django integration: Django not installed; pip install 'posthog[django]'\"]"
    )


@pytest.mark.parametrize("module", ["posthog.integrations.django", "posthog.sentry.django"])
def test_django_modules_import_before_settings_are_configured(module: str) -> None:
    pytest.importorskip("django")
    pytest.importorskip("sentry_sdk")
    assert run(import_error(module)) == "imported"
