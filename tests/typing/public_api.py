"""Typical user code, type-checked by `mypy --strict tests/typing` against posthog's py.typed.

Never collected by pytest (no `test_` prefix) and never run at import: everything is in functions.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Any, Optional

import posthog
from posthog import Posthog
from posthog.exception_capture import Integrations
from posthog.request import APIError, QuotaLimitError, determine_server_host
from posthog.types import FeatureFlag, FlagsAndPayloads, FlagValue


def report_failure(error: Exception, batch: Sequence[Any]) -> None:
    if isinstance(error, APIError):
        status: int | str = error.status
        message: str = error.message
        del status, message


def configure_module() -> None:
    posthog.project_api_key = "phc_example"
    posthog.api_key = "phc_example"
    posthog.host = "https://eu.posthog.com"
    posthog.personal_api_key = None
    posthog.debug = False
    posthog.disabled = False
    posthog.sync_mode = False
    posthog.send = True
    posthog.on_error = report_failure
    posthog.poll_interval = 60
    posthog.disable_geoip = True
    posthog.feature_flags_request_timeout_seconds = 2
    posthog.super_properties = {"service": "checkout"}
    posthog.exception_autocapture_integrations = [Integrations.Django]
    posthog.project_root = "/srv/app"
    posthog.privacy_mode = False


def module_events() -> bool:
    ok, _message = posthog.capture("user-1", "movie played", {"movie_id": "123"})
    posthog.capture(
        "user-1",
        "purchase",
        properties={"amount": 9.99},
        timestamp=datetime.datetime.now(datetime.timezone.utc),
        uuid=str(uuid.uuid4()),
        groups={"company": "acme"},
        disable_geoip=False,
    )
    posthog.identify("user-1", {"email": "a@example.com"})
    posthog.set("user-1", {"plan": "pro"})
    posthog.set_once("user-1", {"first_seen": "2024-01-01"})
    posthog.group_identify("company", "acme", {"employees": 11})
    posthog.alias("anonymous-1", "user-1")
    posthog.page("user-1", "https://example.com/pricing")
    posthog.screen("user-1", "Home")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        posthog.capture_exception(exc, "user-1")
    posthog.flush()
    posthog.shutdown()
    return ok


def module_flags() -> Optional[FlagValue]:
    enabled: Optional[bool] = posthog.feature_enabled("beta", "user-1")
    value = posthog.get_feature_flag("beta", "user-1", groups={"company": "acme"})
    if value == "test" or enabled:
        pass
    flags: Optional[dict[str, FlagValue]] = posthog.get_all_flags("user-1")
    both: FlagsAndPayloads = posthog.get_all_flags_and_payloads("user-1")
    payload = posthog.get_feature_flag_payload("beta", "user-1")
    del flags, both, payload
    return value


def client_usage() -> None:
    client = Posthog("phc_example", host="https://us.posthog.com", flush_at=50, gzip=True, max_retries=5)
    result = client.capture("user-1", "signed up", {"source": "ads"})
    accepted: bool = result[0]
    if not accepted:
        return
    client.identify("user-1", {"name": "Ada"})
    client.group_identify("company", 42, {"name": "Acme"}, distinct_id="user-1")
    value = client.get_feature_flag(
        "beta",
        "user-1",
        groups={"company": "acme"},
        person_properties={"plan": "pro"},
        group_properties={"company": {"size": 5}},
        only_evaluate_locally=True,
        send_feature_flag_events=False,
    )
    on: Optional[bool] = client.feature_enabled("beta", "user-1")
    definitions: Optional[list[dict[str, Any]]] = client.feature_flag_definitions()
    client.load_feature_flags()
    del value, on, definitions
    client.flush()
    client.shutdown()


def request_helpers() -> str:
    try:
        host = determine_server_host("https://eu.posthog.com")
    except QuotaLimitError as exc:
        host = str(exc)
    return host


def flag_types(flag: FeatureFlag) -> FlagValue:
    return flag.get_value()


def version() -> str:
    return posthog.VERSION + posthog.__version__


def uses_an_injected_recorder() -> None:
    from posthog.testing import RecordingClient

    def checkout(client: posthog.Posthog, user: str) -> None:
        client.capture(user, "order completed")

    checkout(RecordingClient("phc_test"), "user-1")
