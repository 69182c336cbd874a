"""PostHog's official OpenFeature provider (``openfeature-provider-posthog``, black box) runs on this
package unchanged and answers as ``posthog.openfeature.PostHogProvider`` does.

It is installed with ``--no-deps`` (it declares ``posthog>=7``) on Python >= 3.10 only; elsewhere
these tests are skipped. Where the two providers differ by design, the test says so.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Callable

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

import posthog
from posthog.openfeature import PostHogProvider
from tests.fake_server import FakePostHog
from tests.test_openfeature import DEFINITIONS, PAYLOADS, REMOTE, install, summary

official = pytest.importorskip("openfeature.contrib.provider.posthog")

ADA = EvaluationContext("ada", {"email": "y@example.com"})
COMPANY = EvaluationContext(
    "ada", {"groups": {"company": "acme"}, "group_properties": {"company": {"plan": "pro"}}}
)

CASES = [
    ("get_boolean_details", "local-bool", False, ADA),
    ("get_boolean_details", "local-variant", False, ADA),
    ("get_boolean_details", "for-x", True, ADA),
    ("get_boolean_details", "for-x", False, EvaluationContext("ada", {"email": "x@example.com"})),
    ("get_boolean_details", "for-pro-companies", False, COMPANY),
    ("get_boolean_details", "remote-bool", False, ADA),
    ("get_boolean_details", "remote-variant", False, ADA),
    ("get_boolean_details", "remote-off", True, ADA),
    ("get_boolean_details", "missing", True, ADA),
    ("get_string_details", "local-variant", "none", ADA),
    ("get_string_details", "local-bool", "none", ADA),
    ("get_string_details", "remote-variant", "none", ADA),
    ("get_string_details", "remote-off", "none", ADA),
    ("get_string_details", "missing", "none", ADA),
    ("get_object_details", "local-bool", {}, ADA),
    ("get_object_details", "local-variant", {}, ADA),
    ("get_object_details", "remote-variant", {}, ADA),
    ("get_object_details", "remote-bool", {}, ADA),
    ("get_object_details", "remote-off", {"d": 1}, ADA),
    ("get_object_details", "missing", {"d": 1}, ADA),
    ("get_integer_details", "local-numeric-variant", 0, ADA),
    ("get_float_details", "local-numeric-variant", 0.5, ADA),
]


@pytest.fixture(autouse=True)
def openfeature_api(make_client: Callable[..., posthog.Client]) -> Iterator[None]:
    yield
    api.clear_providers()


def test_the_documented_constructor_takes_our_client() -> None:
    params = inspect.signature(official.PostHogProvider).parameters
    assert list(params) == ["client", "default_distinct_id", "send_feature_flag_events"]


@pytest.mark.parametrize("personal_api_key", [None, "phx"], ids=["remote", "local"])
def test_the_official_provider_answers_as_ours(
    fake_server: FakePostHog, make_client: Callable[..., posthog.Client], personal_api_key: str | None
) -> None:
    fake_server.set_flag_definitions(DEFINITIONS)
    fake_server.set_remote_flags(REMOTE, payloads=PAYLOADS)
    client = make_client(personal_api_key=personal_api_key, sync_mode=True)
    install(PostHogProvider(client))
    install(official.PostHogProvider(client), "official")
    if personal_api_key:
        assert client.load_feature_flags() is None and client.feature_flags is not None

    for method, key, default, context in CASES:
        ours = getattr(api.get_client(), method)(key, default, context)
        theirs = getattr(api.get_client("official"), method)(key, default, context)
        assert summary(theirs) == summary(ours), (method, key)
        if ours.error_code is None:  # theirs raises errors: the SDK keeps no metadata then
            assert theirs.flag_metadata == ours.flag_metadata, (method, key)

    # Both ask the server the same questions: the /flags bodies come in identical pairs.
    bodies = [{k: v for k, v in r.json.items() if k != "sentAt"} for r in fake_server.requests_to("/flags")]
    assert bodies and len(bodies) % 2 == 0 and bodies[0::2] == bodies[1::2]


def test_where_the_providers_differ_by_design(
    fake_server: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    fake_server.set_flag_definitions(DEFINITIONS)
    fake_server.set_remote_flags(REMOTE, payloads=PAYLOADS)
    client = make_client(personal_api_key="phx", sync_mode=True)
    install(PostHogProvider(client))
    install(official.PostHogProvider(client), "official")
    ours, theirs = api.get_client(), api.get_client("official")

    # A number from the payload: ours reads it; theirs reads numbers from variant keys only.
    assert summary(ours.get_integer_details("local-int", 0, ADA)) == (5, None, Reason.TARGETING_MATCH, None)
    assert theirs.get_integer_details("local-int", 0, ADA).error_code == ErrorCode.TYPE_MISMATCH
    # A flag inactive in the definitions: ours says DISABLED, theirs DEFAULT.
    assert ours.get_boolean_details("inactive", True, ADA).reason == Reason.DISABLED
    assert theirs.get_boolean_details("inactive", True, ADA).reason == Reason.DEFAULT
    # No targeting key: ours uses the PostHog context's distinct id; theirs needs default_distinct_id.
    with posthog.new_context():
        posthog.identify_context("grace")
        assert ours.get_boolean_value("remote-bool", False) is True
        assert theirs.get_boolean_details("remote-bool", False).error_code == ErrorCode.TARGETING_KEY_MISSING
