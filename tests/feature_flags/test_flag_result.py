"""``get_feature_flag_result`` (upstream 7.x's result API) on Posthog, AsyncPosthog and the module.

Checked against posthog 7.91.1 black-box with the same definitions and answers: the same results,
locally (no reason) and from the server (its reason), ``None`` for an unknown flag.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import posthog
from posthog.types import FeatureFlagResult
from tests.fake_server import FakePostHog

DEFINITIONS: dict[str, Any] = {
    "flags": [
        {
            "id": 1,
            "key": "local-bool",
            "active": True,
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100}],
                "payloads": {"true": '{"a": 1}'},
            },
        },
        {
            "id": 2,
            "key": "local-variant",
            "active": True,
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100}],
                "multivariate": {"variants": [{"key": "red", "rollout_percentage": 100}]},
                "payloads": {"red": "[1, 2]"},
            },
        },
        {
            "id": 3,
            "key": "local-off",
            "active": True,
            "filters": {
                "groups": [
                    {
                        "properties": [{"key": "email", "value": "x", "operator": "exact", "type": "person"}],
                        "rollout_percentage": 100,
                    }
                ]
            },
        },
        {"id": 4, "key": "inactive", "active": False, "filters": {"groups": [{"rollout_percentage": 100}]}},
    ],
    "group_type_mapping": {},
    "cohorts": {},
}


def _serve(fake: FakePostHog) -> None:
    fake.set_flag_definitions(DEFINITIONS)
    fake.set_remote_flags(
        {"remote-bool": True, "remote-variant": "blue", "remote-off": False},
        payloads={"remote-variant": {"x": 1}, "remote-bool": '"text"'},
    )


def test_local_results_carry_the_decoded_payload_and_no_reason(fake_server: FakePostHog) -> None:
    _serve(fake_server)
    client = posthog.Client("phc_result", host=fake_server.url, personal_api_key="phx", sync_mode=True)
    client.load_feature_flags()
    person = {"email": "y"}

    assert client.get_feature_flag_result("local-bool", "ada", person_properties=person) == FeatureFlagResult(
        "local-bool", True, None, {"a": 1}, None
    )
    variant = client.get_feature_flag_result("local-variant", "ada", only_evaluate_locally=True)
    assert variant == FeatureFlagResult("local-variant", True, "red", [1, 2], None)
    assert variant is not None and variant.get_value() == "red"
    off = client.get_feature_flag_result("local-off", "ada", person_properties=person)
    assert off == FeatureFlagResult("local-off", False, None, None, None) and off.get_value() is False
    assert client.get_feature_flag_result("inactive", "ada") == FeatureFlagResult(
        "inactive", False, None, None, None
    )
    assert fake_server.requests_to("/flags") == []  # all decided locally
    called = [
        (e["properties"]["$feature_flag"], e["properties"]["$feature_flag_response"])
        for e in fake_server.events()
    ]
    assert called == [
        ("local-bool", True),
        ("local-variant", "red"),
        ("local-off", False),
        ("inactive", False),
    ]
    assert fake_server.events()[0]["properties"]["$feature_flag_payload"] == {"a": 1}  # decoded, as 7.x


def test_remote_results_carry_the_servers_reason_and_unknown_flags_are_none(fake_server: FakePostHog) -> None:
    _serve(fake_server)
    client = posthog.Client("phc_result", host=fake_server.url, sync_mode=True)

    result = client.get_feature_flag_result(
        "remote-variant", "ada", groups={"company": "acme"}, device_id="dev-1"
    )
    assert result == FeatureFlagResult("remote-variant", True, "blue", {"x": 1}, "Matched condition set 1")
    assert client.get_feature_flag_result("remote-bool", "ada") == FeatureFlagResult(
        "remote-bool", True, None, "text", "Matched condition set 1"
    )
    assert client.get_feature_flag_result("remote-off", "ada") == FeatureFlagResult(
        "remote-off", False, None, None, "No matching condition set"
    )
    assert client.get_feature_flag_result("missing", "ada") is None  # not "off": it does not exist
    assert client.get_feature_flag("missing", "ada") is False  # 3.x's answer is unchanged
    assert client.get_feature_flag_result("remote-bool", "ada", only_evaluate_locally=True) is None

    first = fake_server.requests_to("/flags")[0].json
    assert (first["groups"], first["device_id"], first["flag_keys_to_evaluate"]) == (
        {"company": "acme"},
        "dev-1",
        ["remote-variant"],
    )
    names = [e["properties"]["$feature_flag"] for e in fake_server.events()]
    assert names == [
        "remote-variant",
        "remote-bool",
        "remote-off",
        "missing",
    ]  # `missing`: get_feature_flag's


def test_one_called_event_per_user_and_value_shared_with_get_feature_flag(fake_server: FakePostHog) -> None:
    _serve(fake_server)
    client = posthog.Client("phc_result", host=fake_server.url, sync_mode=True)

    assert client.get_feature_flag("remote-bool", "ada") is True
    client.get_feature_flag_result("remote-bool", "ada")
    client.get_feature_flag_result("remote-bool", "grace", send_feature_flag_events=False)
    client.get_feature_flag_result("remote-bool", "alan")

    assert [e["distinct_id"] for e in fake_server.events()] == ["ada", "alan"]


def test_the_async_client_and_the_module_give_the_same_results(fake_server: FakePostHog) -> None:
    _serve(fake_server)
    sync = posthog.Client("phc_result", host=fake_server.url, sync_mode=True)
    expected = [
        sync.get_feature_flag_result(key, "ada") for key in ("remote-variant", "remote-off", "missing")
    ]

    async def from_async() -> list[Any]:
        client = posthog.AsyncPosthog("phc_result", host=fake_server.url)
        try:
            return [
                await client.get_feature_flag_result(key, "ada")
                for key in ("remote-variant", "remote-off", "missing")
            ]
        finally:
            await client.shutdown()

    assert asyncio.run(from_async()) == expected
    posthog.api_key, posthog.host = "phc_result", fake_server.url
    assert [
        posthog.get_feature_flag_result(key, "ada") for key in ("remote-variant", "remote-off", "missing")
    ] == expected
    with posthog.new_context():
        posthog.identify_context("ada")
        assert posthog.get_feature_flag_result("remote-variant") == expected[0]


def test_a_disabled_client_answers_none_and_bad_arguments_raise(fake_server: FakePostHog) -> None:
    client = posthog.Client("phc_result", host=fake_server.url, disabled=True)
    assert client.get_feature_flag_result("remote-bool", "ada") is None
    with pytest.raises(posthog.InvalidTypeError, match="key"):
        client.get_feature_flag_result(3, "ada")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "decoded"),
    [('{"a": 1}', {"a": 1}), ("5", 5), ('"s"', "s"), ("not json", None), ("", None), ({"a": 1}, {"a": 1})],
)
def test_payloads_are_decoded_like_7x(payload: Any, decoded: Any) -> None:
    result = FeatureFlagResult.from_value_and_payload("k", True, payload)
    assert result is not None and result.payload == decoded
    assert FeatureFlagResult.from_value_and_payload("k", None, payload) is None


def test_recording_client_overrides_answer_results() -> None:
    from posthog.testing import FlagOverrides, RecordingClient

    client = RecordingClient(flags=FlagOverrides().flag("beta", "v2", payload={"a": 1}))
    assert client.get_feature_flag_result("beta", "ada") == FeatureFlagResult(
        "beta", True, "v2", {"a": 1}, None
    )
    assert client.get_feature_flag_result("unknown", "ada") is None
