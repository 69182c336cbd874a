"""``posthog.openfeature.PostHogProvider`` through the real OpenFeature SDK, against the fake PostHog."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason
from openfeature.hook import Hook, HookContext
from openfeature.provider import FeatureProvider
from openfeature.provider.in_memory_provider import InMemoryProvider

import posthog
from posthog.openfeature import PostHogProvider
from tests.fake_server import FakePostHog

ROOT = Path(__file__).resolve().parent.parent


def _flag(key: str, filters: dict[str, Any], active: bool = True, **extra: Any) -> dict[str, Any]:
    return {"id": len(key), "key": key, "active": active, "filters": filters, **extra}


def _everyone(**filters: Any) -> dict[str, Any]:
    return {"groups": [{"properties": [], "rollout_percentage": 100}], **filters}


def _person(name: str, value: str) -> dict[str, Any]:
    prop = {"key": name, "value": value, "operator": "exact", "type": "person"}
    return {"groups": [{"properties": [prop], "rollout_percentage": 100}]}


DEFINITIONS: dict[str, Any] = {
    "flags": [
        _flag("local-bool", _everyone(payloads={"true": '{"a": 1}'})),
        _flag(
            "local-variant",
            _everyone(
                multivariate={"variants": [{"key": "red", "rollout_percentage": 100}]},
                payloads={"red": "[1, 2]"},
            ),
        ),
        _flag("local-int", _everyone(payloads={"true": "5"})),
        _flag("local-float", _everyone(payloads={"true": "2.5"})),
        _flag("local-yes", _everyone(payloads={"true": "true"})),
        _flag(
            "local-numeric-variant",
            _everyone(multivariate={"variants": [{"key": "42", "rollout_percentage": 100}]}),
        ),
        _flag("for-x", _person("email", "x@example.com")),
        _flag("needs-plan", _person("plan", "pro")),
        _flag("inactive", _everyone(), active=False),
        _flag(
            "for-pro-companies",
            {
                "aggregation_group_type_index": 0,
                "groups": [
                    {
                        "properties": [{"key": "plan", "value": "pro", "operator": "exact", "type": "group"}],
                        "rollout_percentage": 100,
                    }
                ],
            },
        ),
    ],
    "group_type_mapping": {"0": "company"},
    "cohorts": {},
}

REMOTE = {"remote-bool": True, "remote-variant": "blue", "remote-off": False, "remote-int": True}
PAYLOADS = {"remote-variant": {"x": 1}, "remote-int": 7}


@pytest.fixture
def serve(fake_server: FakePostHog) -> FakePostHog:
    fake_server.set_flag_definitions(DEFINITIONS)
    fake_server.set_remote_flags(REMOTE, payloads=PAYLOADS)
    return fake_server


@pytest.fixture(autouse=True)
def openfeature_api(make_client: Callable[..., posthog.Client]) -> Iterator[None]:
    """A clean OpenFeature API per test (torn down before the clients are shut down)."""
    yield
    api.clear_hooks()
    api.clear_providers()  # shuts the providers down
    api.set_evaluation_context(EvaluationContext())


def install(provider: FeatureProvider, domain: str | None = None) -> None:
    """Set the provider and wait for its initialize() (0.10 runs it on a thread; 0.8 inline)."""
    getattr(api, "set_provider_and_wait", api.set_provider)(provider, domain)


def summary(details: FlagEvaluationDetails[Any]) -> tuple[Any, ...]:
    return (details.value, details.variant, details.reason, details.error_code)


def matched(value: Any, variant: str | None = None) -> tuple[Any, ...]:
    """The summary of an enabled flag's answer."""
    return (value, variant, Reason.TARGETING_MATCH, None)


ADA = EvaluationContext("ada", {"email": "y@example.com"})


def test_import_posthog_does_not_import_openfeature() -> None:
    code = "import sys, posthog; print(any(m.split('.')[0] == 'openfeature' for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_local_evaluation(serve: FakePostHog, make_client: Callable[..., posthog.Client]) -> None:
    client = make_client(personal_api_key="phx", sync_mode=True)
    install(PostHogProvider(client))
    assert client.feature_flags is not None  # initialize() loaded the definitions
    of = api.get_client()

    assert of.get_boolean_value("local-bool", False, ADA) is True
    assert summary(of.get_boolean_details("local-variant", False, ADA)) == matched(True, "red")
    assert summary(of.get_string_details("local-variant", "none", ADA)) == matched("red", "red")
    assert of.get_object_value("local-bool", {}, ADA) == {"a": 1}
    assert of.get_object_value("local-variant", {}, ADA) == [1, 2]
    assert of.get_integer_value("local-int", 0, ADA) == 5
    assert of.get_integer_value("local-numeric-variant", 0, ADA) == 42  # no payload: the variant key
    float_value = of.get_float_value("local-float", 0.0, ADA)
    assert float_value == 2.5
    int_as_float = of.get_float_value("local-int", 0.0, ADA)
    assert int_as_float == 5.0 and type(int_as_float) is float
    off = of.get_boolean_details("for-x", True, ADA)
    assert summary(off) == (False, None, Reason.DEFAULT, None) and off.flag_metadata == {}
    on_for_x = EvaluationContext("ada", {"email": "x@example.com"})  # attributes are person properties
    assert of.get_boolean_value("for-x", False, on_for_x) is True
    assert summary(of.get_string_details("inactive", "dflt", ADA)) == ("dflt", None, Reason.DISABLED, None)
    assert of.get_boolean_details("inactive", True, ADA).value is False

    company = {"groups": {"company": "acme"}, "group_properties": {"company": {"plan": "pro"}}}
    assert of.get_boolean_value("for-pro-companies", False, EvaluationContext("ada", company)) is True
    free = {"groups": {"company": "acme"}, "group_properties": {"company": {"plan": "free"}}}
    assert of.get_boolean_value("for-pro-companies", True, EvaluationContext("ada", free)) is False

    assert serve.requests_to("/flags") == []  # all decided locally
    called = {
        (e["properties"]["$feature_flag"], json.dumps(e["properties"]["$feature_flag_response"]))
        for e in serve.events()
    }
    assert ("local-variant", '"red"') in called and ("for-x", "false") in called


def test_remote_evaluation_sends_the_context(
    serve: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    install(PostHogProvider(make_client(sync_mode=True)))
    of = api.get_client()
    context = EvaluationContext(
        "ada",
        {
            "email": "y@example.com",
            "groups": {"company": "acme"},
            "group_properties": {"company": {"plan": "pro"}},
        },
    )

    details = of.get_boolean_details("remote-bool", False, context)
    assert summary(details) == matched(True)
    assert details.flag_metadata == {"posthog_reason": "Matched condition set 1"}
    assert summary(of.get_string_details("remote-variant", "none", context)) == matched("blue", "blue")
    assert of.get_boolean_details("remote-variant", False, context).value is True
    assert of.get_object_value("remote-variant", {}, context) == {"x": 1}
    assert of.get_integer_value("remote-int", 0, context) == 7
    off = of.get_boolean_details("remote-off", True, context)
    assert summary(off) == (False, None, Reason.DEFAULT, None)
    assert off.flag_metadata == {"posthog_reason": "No matching condition set"}
    off_object = of.get_object_details("remote-off", {"d": 1}, context)
    assert summary(off_object) == ({"d": 1}, None, Reason.DEFAULT, None)

    body = serve.requests_to("/flags")[0].json
    assert body["distinct_id"] == "ada"
    assert body["person_properties"] == {"distinct_id": "ada", "email": "y@example.com"}
    assert body["groups"] == {"company": "acme"}
    assert body["group_properties"] == {"company": {"$group_key": "acme", "plan": "pro"}}
    assert body["flag_keys_to_evaluate"] == ["remote-bool"]


@pytest.mark.parametrize(
    ("method", "default"),
    [
        ("get_boolean_details", True),
        ("get_string_details", "d"),
        ("get_integer_details", 3),
        ("get_float_details", 1.5),
        ("get_object_details", {"d": 1}),
    ],
)
def test_a_missing_flag_answers_like_the_in_memory_provider(
    serve: FakePostHog, make_client: Callable[..., posthog.Client], method: str, default: Any
) -> None:
    install(InMemoryProvider({}), "memory")
    install(PostHogProvider(make_client(sync_mode=True)))

    ours = getattr(api.get_client(), method)("missing", default, ADA)
    theirs = getattr(api.get_client("memory"), method)("missing", default, ADA)

    assert summary(ours) == summary(theirs) == (default, None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    assert "missing" in (ours.error_message or "")


def test_a_flag_missing_from_loaded_definitions_is_not_found(
    serve: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    install(PostHogProvider(make_client(personal_api_key="phx", sync_mode=True), only_evaluate_locally=True))
    details = api.get_client().get_boolean_details("missing", False, ADA)
    assert details.error_code == ErrorCode.FLAG_NOT_FOUND


@pytest.mark.parametrize(
    ("method", "key", "default", "message"),
    [
        ("get_string_details", "local-bool", "d", "is a boolean flag: it has no variant"),
        ("get_integer_details", "local-variant", 0, "payload that is not an integer"),
        ("get_integer_details", "local-yes", 0, "payload that is not an integer"),  # bool is not an int
        ("get_integer_details", "local-float", 0, "payload that is not an integer"),
        ("get_float_details", "local-variant", 0.5, "payload that is not a float"),
        ("get_object_details", "local-int", {}, "payload that is not an object or array"),
        ("get_object_details", "for-pro-companies", {}, None),  # off: the default, no error
        ("get_integer_details", "remote-bool", 0, "has no payload"),
        ("get_object_details", "remote-bool", [], "has no payload"),
    ],
)
def test_type_mismatches(
    serve: FakePostHog,
    make_client: Callable[..., posthog.Client],
    method: str,
    key: str,
    default: Any,
    message: str | None,
) -> None:
    install(PostHogProvider(make_client(personal_api_key="phx", sync_mode=True)))
    details = getattr(api.get_client(), method)(key, default, ADA)
    assert details.value == default
    if message is None:
        assert details.error_code is None
    else:
        assert (details.reason, details.error_code) == (Reason.ERROR, ErrorCode.TYPE_MISMATCH)
        assert message in (details.error_message or "")


def test_only_evaluate_locally_undecidable(
    serve: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    install(PostHogProvider(make_client(personal_api_key="phx", sync_mode=True), only_evaluate_locally=True))
    of = api.get_client()

    details = of.get_boolean_details("needs-plan", True, ADA)  # no `plan` person property
    assert summary(details) == (True, None, Reason.ERROR, ErrorCode.GENERAL)
    assert details.error_message == "flag 'needs-plan' could not be decided locally"
    assert of.get_boolean_value("needs-plan", False, EvaluationContext("ada", {"plan": "pro"})) is True
    assert serve.requests_to("/flags") == []

    install(PostHogProvider(make_client(sync_mode=True), only_evaluate_locally=True), "no-key")
    details = api.get_client("no-key").get_boolean_details("remote-bool", False, ADA)
    assert details.error_code == ErrorCode.GENERAL
    assert "no flag definitions are loaded" in (details.error_message or "")


def test_targeting_key_missing_falls_back_to_the_posthog_context(
    serve: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    install(PostHogProvider(make_client(sync_mode=True)))
    of = api.get_client()

    details = of.get_boolean_details("remote-bool", False)
    assert summary(details) == (False, None, Reason.ERROR, ErrorCode.TARGETING_KEY_MISSING)
    with posthog.new_context():
        posthog.identify_context("grace")
        assert of.get_boolean_value("remote-bool", False) is True
        assert of.get_boolean_value("remote-bool", False, EvaluationContext("ada")) is True
    api.set_evaluation_context(EvaluationContext("alan"))  # the API-level context counts too
    assert of.get_boolean_value("remote-bool", False) is True
    assert [r.json["distinct_id"] for r in serve.requests_to("/flags")] == ["grace", "ada", "alan"]


def test_hooks_see_the_flag_and_its_details(
    serve: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    seen: list[tuple[Any, ...]] = []

    class Recorder(Hook):
        def before(self, hook_context: HookContext, hints: Any) -> None:
            seen.append(("before", hook_context.flag_key, hook_context.evaluation_context.targeting_key))

        def after(self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: Any) -> None:
            seen.append(("after", hook_context.flag_key, details.value, details.variant, details.reason))

        def error(self, hook_context: HookContext, exception: Exception, hints: Any) -> None:
            seen.append(("error", hook_context.flag_key, type(exception).__name__))

        def finally_after(
            self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: Any
        ) -> None:
            seen.append(("finally", hook_context.flag_key, details.value, details.error_code))

    api.add_hooks([Recorder()])
    install(PostHogProvider(make_client(sync_mode=True)))
    of = api.get_client()
    of.get_string_value("remote-variant", "none", ADA)
    of.get_string_value("remote-bool", "none", ADA)
    of.get_boolean_value("missing", False, ADA)

    assert seen == [
        ("before", "remote-variant", "ada"),
        ("after", "remote-variant", "blue", "blue", Reason.TARGETING_MATCH),
        ("finally", "remote-variant", "blue", None),
        ("before", "remote-bool", "ada"),
        ("error", "remote-bool", "TypeMismatchError"),
        ("finally", "remote-bool", "none", ErrorCode.TYPE_MISMATCH),
        ("before", "missing", "ada"),
        ("error", "missing", "FlagNotFoundError"),
        ("finally", "missing", False, ErrorCode.FLAG_NOT_FOUND),
    ]


def test_the_async_api_with_async_posthog(serve: FakePostHog) -> None:
    async def scenario() -> list[Any]:
        client = posthog.AsyncPosthog("phc_of", host=serve.url, personal_api_key="phx")
        try:
            install(PostHogProvider(client))
            of = api.get_client()
            answers = [
                summary(await of.get_string_details_async("remote-variant", "none", ADA)),
                await of.get_boolean_value_async("local-bool", False, ADA),
                await of.get_object_value_async("local-variant", {}, ADA),
                await of.get_float_value_async("local-float", 0.0, ADA),
                (await of.get_boolean_details_async("missing", False, ADA)).error_code,
            ]
            blocking = of.get_boolean_details("local-bool", False, ADA)  # not answered: needs the loop
            answers.append((blocking.value, blocking.error_code, blocking.error_message))
            await client.flush()
            return answers
        finally:
            await client.shutdown()

    answers = asyncio.run(scenario())
    assert answers[:5] == [
        matched("blue", "blue"),
        True,
        [1, 2],
        2.5,
        ErrorCode.FLAG_NOT_FOUND,
    ]
    assert answers[5][:2] == (False, ErrorCode.GENERAL) and "async" in answers[5][2]
    assert {e["properties"]["$feature_flag"] for e in serve.events()} >= {"remote-variant", "local-bool"}


def test_the_async_api_with_a_blocking_client(
    serve: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    install(PostHogProvider(make_client(sync_mode=True)))

    async def scenario() -> Any:
        with posthog.new_context():
            posthog.identify_context("grace")  # the context goes to the worker thread
            return await api.get_client().get_string_details_async("remote-variant", "none")

    assert summary(asyncio.run(scenario())) == matched("blue", "blue")
    assert serve.requests_to("/flags")[0].json["distinct_id"] == "grace"


def test_the_default_client_and_its_settings(serve: FakePostHog) -> None:
    install(PostHogProvider())
    assert posthog.default_client is None  # no settings yet: initialize() made no client
    details = api.get_client().get_boolean_details("remote-bool", False, ADA)
    assert (details.value, details.error_code) == (False, ErrorCode.GENERAL)
    assert "api_key" in (details.error_message or "")

    posthog.api_key, posthog.host, posthog.sync_mode = "phc_default", serve.url, True
    assert api.get_client().get_boolean_value("remote-bool", False, ADA) is True
    posthog.default_client, posthog.personal_api_key = None, "phx"
    install(PostHogProvider(), "settings-first")  # initialize() makes the client, loads definitions
    assert posthog.default_client is not None and posthog.default_client.feature_flags is not None
    assert api.get_client("settings-first").get_boolean_value("local-bool", False, ADA) is True
    posthog.disabled = True
    details = api.get_client().get_boolean_details("remote-bool", False, ADA)
    assert summary(details) == (False, None, Reason.DISABLED, None)


def test_client_errors_are_general_errors_and_never_raise(
    serve: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    class Broken(posthog.Client):
        def get_feature_flag_result(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    provider = PostHogProvider(Broken("phc_of", host=serve.url, send=False))
    details = provider.resolve_float_details("remote-bool", 1.5, ADA)
    assert (details.value, details.reason, details.error_code) == (1.5, Reason.ERROR, ErrorCode.GENERAL)
    assert details.error_message == "RuntimeError: boom"
    bad_groups = provider.resolve_boolean_details(
        "remote-bool", True, EvaluationContext("ada", {"groups": "acme"})
    )
    assert bad_groups.error_code == ErrorCode.INVALID_CONTEXT
    bad_props = EvaluationContext("ada", {"group_properties": {"company": "pro"}})
    assert (
        provider.resolve_boolean_details("remote-bool", True, bad_props).error_code
        == ErrorCode.INVALID_CONTEXT
    )


def test_send_feature_flag_events_false(
    serve: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    client = make_client(sync_mode=True)
    install(PostHogProvider(client, send_feature_flag_events=False))
    assert api.get_client().get_boolean_value("remote-bool", False, ADA) is True
    client.capture("ada", "marker")
    assert [e["event"] for e in serve.events()] == ["marker"]


def test_shutdown_flushes_but_keeps_the_client(
    serve: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    client = make_client(flush_interval=60, flush_at=1000)
    install(PostHogProvider(client))
    assert api.get_client().get_boolean_value("remote-bool", False, ADA) is True
    assert serve.events() == []  # queued

    api.shutdown()

    assert [e["event"] for e in serve.events()] == ["$feature_flag_called"]
    client.capture("ada", "after")  # still running
    client.flush()
    assert [e["event"] for e in serve.events()] == ["$feature_flag_called", "after"]


def test_recording_client_overrides_answer_through_the_provider() -> None:
    from posthog.testing import FlagOverrides, RecordingClient

    client = RecordingClient(flags=FlagOverrides().flag("beta", "v2", payload={"a": 1}).flag("off", False))
    install(PostHogProvider(client))
    of = api.get_client()
    assert summary(of.get_string_details("beta", "none", ADA)) == matched("v2", "v2")
    assert of.get_object_value("beta", {}, ADA) == {"a": 1}
    assert of.get_boolean_details("off", True, ADA).reason == Reason.DEFAULT
    assert of.get_boolean_details("unknown", True, ADA).error_code == ErrorCode.FLAG_NOT_FOUND


def test_metadata() -> None:
    assert PostHogProvider().get_metadata().name == "PostHog"
    assert PostHogProvider().get_provider_hooks() == []
