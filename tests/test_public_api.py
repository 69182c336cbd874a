"""The 3.x public surface: import paths, exported names and signatures (spec: api.md §1, §3, §4, §9)."""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import posthog
from posthog.client import Client

REPO_ROOT = Path(__file__).resolve().parents[1]

# --- §1 package layout ---------------------------------------------------------------------------

# (module, attribute names that must resolve on it)
IMPORT_PATHS = [
    (
        "posthog",
        ["Client", "Posthog", "VERSION", "__version__", "Integrations", "FeatureFlag", "FlagsAndPayloads"],
    ),
    ("posthog.client", ["Client"]),
    ("posthog.version", ["VERSION"]),
    (
        "posthog.request",
        [
            "APIError",
            "QuotaLimitError",
            "DatetimeSerializer",
            "post",
            "get",
            "batch_post",
            "decide",
            "flags",
            "remote_config",
            "determine_server_host",
            "DEFAULT_HOST",
            "US_INGESTION_ENDPOINT",
            "EU_INGESTION_ENDPOINT",
            "USER_AGENT",
            "_session",
        ],
    ),
    ("posthog.consumer", ["Consumer", "MAX_MSG_SIZE", "BATCH_SIZE_LIMIT"]),
    ("posthog.poller", ["Poller"]),
    ("posthog.feature_flags", ["InconclusiveMatchError"]),
    (
        "posthog.types",
        [
            "FlagValue",
            "FeatureFlag",
            "FlagReason",
            "FlagMetadata",
            "LegacyFlagMetadata",
            "FlagsResponse",
            "FlagsAndPayloads",
        ],
    ),
    ("posthog.exception_capture", ["ExceptionCapture", "Integrations"]),
    ("posthog.exception_utils", []),
    ("posthog.exception_integrations", ["IntegrationEnablingError"]),
    ("posthog.sentry", ["POSTHOG_ID_TAG"]),
]


@pytest.mark.parametrize(("module", "names"), IMPORT_PATHS, ids=[m for m, _ in IMPORT_PATHS])
def test_3x_import_path_resolves(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)

    missing = [name for name in names if not hasattr(mod, name)]

    assert missing == []


def test_utils_import_path_resolves() -> None:
    utils = importlib.import_module("posthog.utils")

    names = ("clean", "guess_timezone", "SizeLimitedDict", "remove_trailing_slash")
    assert [name for name in names if not hasattr(utils, name)] == []


def test_posthog_is_a_subclass_of_client_not_the_same_class() -> None:
    assert posthog.Client is Client
    assert issubclass(posthog.Posthog, posthog.Client)
    assert posthog.Posthog is not posthog.Client


def test_version_is_one_string_everywhere() -> None:
    from posthog.version import VERSION

    assert posthog.VERSION == posthog.__version__ == VERSION
    assert VERSION.split(".")[0] == "3"
    assert all(part.isdigit() for part in VERSION.split("."))


def test_running_version_py_prints_the_version_without_newline() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "posthog" / "version.py")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert result.stdout == posthog.VERSION


def test_integrations_is_a_str_enum_with_django() -> None:
    assert issubclass(posthog.Integrations, enum.Enum)
    assert [m.name for m in posthog.Integrations] == ["Django"]
    assert posthog.Integrations.Django == "django"
    assert isinstance(posthog.Integrations.Django, str)


def test_request_constants() -> None:
    from posthog import request

    assert request.US_INGESTION_ENDPOINT == "https://us.i.posthog.com"
    assert request.EU_INGESTION_ENDPOINT == "https://eu.i.posthog.com"
    assert request.DEFAULT_HOST == request.US_INGESTION_ENDPOINT
    user_agent = "posthog-python/" + posthog.VERSION
    assert user_agent == request.USER_AGENT
    assert isinstance(request._session, requests.Session)
    assert issubclass(request.QuotaLimitError, request.APIError)
    assert json.dumps({"d": __import__("datetime").date(2024, 1, 2)}, cls=request.DatetimeSerializer) == (
        '{"d": "2024-01-02"}'
    )


def test_consumer_limits() -> None:
    from posthog import consumer

    assert consumer.MAX_MSG_SIZE == 921600 == 900 * 1024
    assert consumer.BATCH_SIZE_LIMIT == 5242880 == 5 * 1024 * 1024


def test_sentry_tag_constant() -> None:
    from posthog.sentry import POSTHOG_ID_TAG

    assert POSTHOG_ID_TAG == "posthog_distinct_id"


def test_inconclusive_match_error_and_integration_error_are_exceptions() -> None:
    from posthog.exception_integrations import IntegrationEnablingError
    from posthog.feature_flags import InconclusiveMatchError

    assert issubclass(InconclusiveMatchError, Exception)
    assert issubclass(IntegrationEnablingError, Exception)


# --- __all__ ---------------------------------------------------------------------------------------

EXPECTED_ALL = {
    "VERSION",
    "flush_after",
    "scope_flush",
    "__version__",
    "APIError",
    "AsyncClient",
    "AsyncPosthog",
    "CaptureCompression",
    "CaptureMode",
    "capture_ai",
    "get_tags",
    "identify_context",
    "new_context",
    "scoped",
    "set_context_device_id",
    "set_context_session",
    "tag",
    "Client",
    "DeliveryStats",
    "DropReason",
    "DroppedEventError",
    "FeatureFlag",
    "FlagValue",
    "FlagsAndPayloads",
    "Integrations",
    "InvalidArgumentError",
    "InvalidTypeError",
    "InvalidValueError",
    "PostHogError",
    "Posthog",
    "QuotaLimitError",
    "alias",
    "capture",
    "capture_exception",
    "feature_enabled",
    "feature_flag_definitions",
    "flush",
    "get_all_flags",
    "get_all_flags_and_payloads",
    "get_feature_flag",
    "get_feature_flag_payload",
    "get_feature_flag_result",
    "get_remote_config_payload",
    "group_identify",
    "identify",
    "join",
    "load_feature_flags",
    "page",
    "screen",
    "set",
    "set_once",
    "shutdown",
}


def test_dunder_all_is_pinned() -> None:
    assert set(posthog.__all__) == EXPECTED_ALL
    assert len(posthog.__all__) == len(EXPECTED_ALL)


def test_every_name_in_dunder_all_exists() -> None:
    assert [name for name in posthog.__all__ if not hasattr(posthog, name)] == []


# --- §3 facade signatures --------------------------------------------------------------------------

_EVENT_TAIL = ["context", "timestamp", "uuid"]
_FLAG_KW = ["groups", "person_properties", "group_properties", "only_evaluate_locally"]

# Parameter names, in order, of the posthog 3.25.0 module functions (api.md §3).
FACADE_SIGNATURES: dict[str, list[str]] = {
    "capture": [
        "distinct_id",
        "event",
        "properties",
        *_EVENT_TAIL,
        "groups",
        "send_feature_flags",
        "disable_geoip",
    ],
    "identify": ["distinct_id", "properties", *_EVENT_TAIL, "disable_geoip"],
    "set": ["distinct_id", "properties", *_EVENT_TAIL, "disable_geoip"],
    "set_once": ["distinct_id", "properties", *_EVENT_TAIL, "disable_geoip"],
    "group_identify": ["group_type", "group_key", "properties", *_EVENT_TAIL, "disable_geoip"],
    "alias": ["previous_id", "distinct_id", *_EVENT_TAIL, "disable_geoip"],
    "capture_exception": ["exception", "distinct_id", "properties", *_EVENT_TAIL, "groups", "kwargs"],
    "feature_enabled": ["key", "distinct_id", *_FLAG_KW, "send_feature_flag_events", "disable_geoip"],
    "get_feature_flag": ["key", "distinct_id", *_FLAG_KW, "send_feature_flag_events", "disable_geoip"],
    "get_all_flags": ["distinct_id", *_FLAG_KW, "disable_geoip"],
    "get_feature_flag_payload": [
        "key",
        "distinct_id",
        "match_value",
        *_FLAG_KW,
        "send_feature_flag_events",
        "disable_geoip",
    ],
    "get_remote_config_payload": ["key"],
    "get_all_flags_and_payloads": ["distinct_id", *_FLAG_KW, "disable_geoip"],
    "feature_flag_definitions": [],
    "load_feature_flags": [],
    "page": ["args", "kwargs"],
    "screen": ["args", "kwargs"],
}
# 3.x takes no argument here; an optional deadline may follow.
LIFECYCLE = ["flush", "join", "shutdown"]


def _names(fn: object) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(FACADE_SIGNATURES))
def test_facade_parameter_names_and_order_match_3x(name: str) -> None:
    assert _names(getattr(posthog, name)) == FACADE_SIGNATURES[name]


@pytest.mark.parametrize("name", sorted(FACADE_SIGNATURES))
def test_facade_parameters_after_the_required_ones_have_defaults(name: str) -> None:
    params = list(inspect.signature(getattr(posthog, name)).parameters.values())
    required = {"key", "distinct_id", "event", "group_type", "group_key", "previous_id"}
    if name == "capture_exception":
        required = set()

    without_default = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name not in required
    ]

    assert without_default == []


@pytest.mark.parametrize("name", LIFECYCLE)
def test_lifecycle_functions_take_no_required_argument(name: str) -> None:
    params = inspect.signature(getattr(posthog, name)).parameters.values()

    assert all(p.default is not inspect.Parameter.empty for p in params)


EVENT_CALLS = ["capture", "identify", "set", "set_once", "alias", "capture_exception"]


@pytest.mark.parametrize("name", EVENT_CALLS)
def test_facade_event_call_names_equal_the_client_method(name: str) -> None:
    assert _names(getattr(posthog, name)) == _names(getattr(Client, name))


def test_client_group_identify_adds_distinct_id_last() -> None:
    assert _names(Client.group_identify) == [*FACADE_SIGNATURES["group_identify"], "distinct_id"]


def test_client_page_signature() -> None:
    assert _names(Client.page) == ["distinct_id", "url", "properties", *_EVENT_TAIL, "disable_geoip"]


@pytest.mark.parametrize(
    "name", ["capture", "identify", "set", "set_once", "group_identify", "alias", "page"]
)
def test_client_event_call_parameters_all_default_to_none(name: str) -> None:
    params = list(inspect.signature(getattr(Client, name)).parameters.values())[1:]

    defaults = {p.name: p.default for p in params if p.name != "send_feature_flags"}

    assert set(defaults.values()) == {None}
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)


@pytest.mark.parametrize(
    "name",
    ["feature_enabled", "get_feature_flag", "get_all_flags", "get_all_flags_and_payloads"],
)
def test_client_flag_methods_take_options_keyword_only(name: str) -> None:
    params = inspect.signature(getattr(Client, name)).parameters

    assert all(params[option].kind is inspect.Parameter.KEYWORD_ONLY for option in _FLAG_KW)


def test_client_payload_match_value_is_keyword_only() -> None:
    params = inspect.signature(Client.get_feature_flag_payload).parameters

    assert params["match_value"].kind is inspect.Parameter.KEYWORD_ONLY


# --- §4 Client constructor -------------------------------------------------------------------------

CLIENT_POSITIONAL = [
    "api_key",
    "host",
    "debug",
    "max_queue_size",
    "send",
    "on_error",
    "flush_at",
    "flush_interval",
    "gzip",
    "max_retries",
    "sync_mode",
    "timeout",
    "thread",
    "poll_interval",
    "personal_api_key",
    "project_api_key",
    "disabled",
    "disable_geoip",
    "historical_migration",
    "feature_flags_request_timeout_seconds",
    "super_properties",
    "enable_exception_autocapture",
    "log_captured_exceptions",
    "exception_autocapture_integrations",
    "project_root",
    "privacy_mode",
]
CLIENT_DEFAULTS = {
    "api_key": None,
    "host": None,
    "debug": False,
    "max_queue_size": 10000,
    "send": True,
    "on_error": None,
    "flush_at": 100,
    "flush_interval": 0.5,
    "gzip": False,
    "max_retries": 3,
    "sync_mode": False,
    "timeout": 15,
    "thread": 1,
    "poll_interval": 30,
    "personal_api_key": None,
    "project_api_key": None,
    "disabled": False,
    "disable_geoip": True,
    "historical_migration": False,
    "feature_flags_request_timeout_seconds": 3,
    "super_properties": None,
    "enable_exception_autocapture": False,
    "log_captured_exceptions": False,
    "exception_autocapture_integrations": None,
    "project_root": None,
    "privacy_mode": False,
}


def test_client_constructor_positional_order_matches_3x() -> None:
    params = list(inspect.signature(Client.__init__).parameters.values())[1:]

    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    extras = [p for p in params if p.kind is not p.POSITIONAL_OR_KEYWORD]

    assert positional == CLIENT_POSITIONAL
    # Additions must not shift 3.x positions: keyword-only, with defaults.
    assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in extras)


def test_client_constructor_defaults_match_3x() -> None:
    params = inspect.signature(Client.__init__).parameters

    assert {name: params[name].default for name in CLIENT_POSITIONAL} == CLIENT_DEFAULTS


def test_posthog_accepts_positional_key_and_host() -> None:
    client = posthog.Posthog("phc_positional", "https://eu.posthog.com", send=False)

    assert client.api_key == "phc_positional"
    assert client.host == "https://eu.i.posthog.com"
    assert client.raw_host == "https://eu.posthog.com"


# --- import side effects ---------------------------------------------------------------------------


def test_import_posthog_does_not_import_optional_frameworks() -> None:
    code = (
        "import json, sys; import posthog; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'sentry_sdk', 'openai', 'anthropic', 'langchain', 'httpx', 'redis'})))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=True
    )

    assert json.loads(result.stdout) == []


# --- §9 exceptions ---------------------------------------------------------------------------------


def test_invalid_type_error_is_both_type_error_and_assertion_error() -> None:
    assert issubclass(posthog.InvalidTypeError, TypeError)
    assert issubclass(posthog.InvalidTypeError, AssertionError)
    assert issubclass(posthog.InvalidValueError, ValueError)
    assert issubclass(posthog.InvalidValueError, AssertionError)
    assert issubclass(posthog.InvalidTypeError, posthog.InvalidArgumentError)
    assert issubclass(posthog.InvalidArgumentError, posthog.PostHogError)


def test_api_error_hierarchy_and_text() -> None:
    from posthog.request import APIError, QuotaLimitError

    assert posthog.APIError is APIError
    assert posthog.QuotaLimitError is QuotaLimitError
    error = QuotaLimitError(200, "Feature flags quota limited")

    assert (error.status, error.message) == (200, "Feature flags quota limited")
    assert str(error) == "[PostHog] Feature flags quota limited (200)"
    assert isinstance(error, posthog.PostHogError)
