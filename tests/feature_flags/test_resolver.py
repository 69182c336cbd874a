"""FlagResolver through the client and the facade: local first, remote fallback (flags.md §6-§7, §10).

Real HTTP through tests/fake_server; definitions come from tests/support/builders.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import posthog
from tests.conftest import API_KEY
from tests.fake_server import FakePostHog
from tests.support.builders import FlagBuilder, cohort, definitions, prop

MakeClient = Callable[..., posthog.Client]

FLAGS = "/flags"
DEFS = "/api/feature_flag/local_evaluation"
PERSONAL_KEY = "phx_personal"

ON = FlagBuilder("on", flag_id=1).condition([], rollout=100).payload("true", '{"on": 1}').build()
NO_PAYLOAD = FlagBuilder("no-payload", flag_id=2).condition([], rollout=100).build()
PRO_ONLY = (
    FlagBuilder("pro-only", flag_id=3)
    .condition([prop("plan", "pro")], rollout=100)
    .payload("true", '"pro"')
    .build()
)
VARIANT = (
    FlagBuilder("variant", flag_id=4)
    .condition([], rollout=100, variant="test")
    .variants(("control", 50), ("test", 50))
    .payload("test", '{"colour": "blue"}')
    .payload("control", '{"colour": "red"}')
    .build()
)
OFF = FlagBuilder("off", flag_id=5).condition([], rollout=100).inactive().build()
CONTINUITY = FlagBuilder("continuity", flag_id=6).condition([], rollout=100).continuity().build()
ODD_OPERATOR = FlagBuilder("odd-operator", flag_id=7).condition([prop("plan", "x", "no_such_op")]).build()
COMPANY = FlagBuilder("company-flag", flag_id=8).group(0).condition([], rollout=100).build()

ALL_LOCAL = [ON, NO_PAYLOAD, PRO_ONLY, VARIANT, OFF]


def flag_requests(server: FakePostHog) -> list[Any]:
    return server.requests_to(FLAGS)


@pytest.fixture
def keyed_server(fake_server: FakePostHog) -> FakePostHog:
    fake_server.personal_api_key = PERSONAL_KEY
    return fake_server


@pytest.fixture
def local_client(keyed_server: FakePostHog, make_client: MakeClient) -> Callable[..., posthog.Client]:
    """A client whose definitions (served by the fake) are loaded."""

    def build(flags: list[dict[str, Any]], **kwargs: Any) -> posthog.Client:
        keyed_server.set_flag_definitions(definitions(flags, group_type_mapping={"0": "company"}))
        client = make_client(personal_api_key=PERSONAL_KEY, **kwargs)
        assert client.wait_for_flags(5)
        return client

    return build


# --- signatures: keyword-only on Client, positional-or-keyword on the facade -------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.feature_enabled("on", "u", {"company": "c"}),
        lambda c: c.get_feature_flag("on", "u", {"company": "c"}),
        lambda c: c.get_feature_flag_payload("on", "u", True),
        lambda c: c.get_all_flags("u", {"company": "c"}),
        lambda c: c.get_all_flags_and_payloads("u", {"company": "c"}),
    ],
    ids=[
        "feature_enabled",
        "get_feature_flag",
        "get_feature_flag_payload",
        "get_all_flags",
        "get_all_and_payloads",
    ],
)
def test_client_flag_methods_are_keyword_only_after_distinct_id(
    fake_server: FakePostHog, make_client: MakeClient, call: Callable[[posthog.Client], Any]
) -> None:
    with pytest.raises(TypeError):
        call(make_client())
    assert flag_requests(fake_server) == []


@pytest.fixture
def facade(fake_server: FakePostHog) -> FakePostHog:
    posthog.project_api_key = API_KEY
    posthog.host = fake_server.url
    return fake_server


def test_facade_flag_functions_accept_positional_arguments(facade: FakePostHog) -> None:
    facade.set_remote_flags({"beta": "test"}, payloads={"beta": {"a": 1}})
    groups = {"company": "acme"}
    person = {"plan": "pro"}
    group_props = {"company": {"size": 3}}

    assert posthog.get_feature_flag("beta", "u1", groups, person, group_props, False, False, False) == "test"
    assert posthog.feature_enabled("beta", "u1", groups, person, group_props, False, False) is True
    assert posthog.get_feature_flag_payload("beta", "u1", None, groups, person, group_props) == '{"a": 1}'
    assert posthog.get_all_flags("u1", groups, person, group_props, False, True) == {"beta": "test"}
    assert posthog.get_all_flags_and_payloads("u1", groups, person, group_props) == {
        "featureFlags": {"beta": "test"},
        "featureFlagPayloads": {"beta": '{"a": 1}'},
    }

    bodies = [r.json for r in flag_requests(facade)]
    assert len(bodies) == 5
    for body in bodies:
        assert body["groups"] == groups
        assert body["person_properties"] == {"distinct_id": "u1", "plan": "pro"}
        assert body["group_properties"] == {"company": {"$group_key": "acme", "size": 3}}
    assert bodies[0]["geoip_disable"] is False  # disable_geoip passed positionally
    assert bodies[3]["geoip_disable"] is True


def test_facade_flag_functions_accept_keywords(facade: FakePostHog) -> None:
    facade.set_remote_flags({"beta": True})

    assert (
        posthog.get_feature_flag(
            key="beta", distinct_id="u1", groups={"company": "acme"}, only_evaluate_locally=False
        )
        is True
    )
    assert posthog.feature_enabled(key="beta", distinct_id="u1", send_feature_flag_events=False) is True
    assert posthog.get_all_flags(distinct_id="u1") == {"beta": True}


def test_facade_payload_match_value_is_positional(facade: FakePostHog) -> None:
    posthog.personal_api_key = PERSONAL_KEY
    facade.personal_api_key = PERSONAL_KEY
    facade.set_flag_definitions(definitions([VARIANT]))
    posthog.load_feature_flags()

    assert posthog.get_feature_flag_payload("variant", "u1", "control") == '{"colour": "red"}'
    assert [f["key"] for f in posthog.feature_flag_definitions() or []] == ["variant"]
    assert flag_requests(facade) == []


def test_facade_remote_config_payload(facade: FakePostHog) -> None:
    posthog.personal_api_key = PERSONAL_KEY
    facade.personal_api_key = PERSONAL_KEY
    facade.set_remote_config("cfg", {"x": 1})

    assert posthog.get_remote_config_payload("cfg") == {"x": 1}


# --- disabled --------------------------------------------------------------------------------


def test_disabled_client_answers_nothing_and_sends_nothing(
    keyed_server: FakePostHog, make_client: MakeClient
) -> None:
    keyed_server.set_remote_flags({"beta": True})
    keyed_server.set_remote_config("cfg", {"x": 1})
    client = make_client(disabled=True, personal_api_key=PERSONAL_KEY)

    assert client.feature_enabled("beta", "u") is None
    assert client.get_feature_flag("beta", "u") is None
    assert client.get_feature_flag_payload("beta", "u") is None
    assert client.get_all_flags("u") is None
    assert client.get_all_flags_and_payloads("u") == {"featureFlags": None, "featureFlagPayloads": None}
    assert client.get_remote_config_payload("cfg") is None
    client.capture("u", "evt", send_feature_flags=True)
    client.flush(1)

    assert keyed_server.requests == []


def test_facade_disabled_is_reapplied_on_each_call(facade: FakePostHog) -> None:
    posthog.personal_api_key = PERSONAL_KEY
    facade.personal_api_key = PERSONAL_KEY
    facade.set_flag_definitions(definitions([ON]))
    facade.set_remote_flags({"on": "remote"})
    posthog.disabled = True

    assert posthog.get_feature_flag("on", "u") is None
    assert posthog.get_all_flags("u") is None
    assert facade.requests == []

    posthog.disabled = False
    # Enabled again: definitions are loaded on demand and the flag is decided locally.
    assert posthog.get_feature_flag("on", "u") is True
    assert flag_requests(facade) == []


# --- assignable definitions ----------------------------------------------------------------


def test_assigned_flags_and_group_type_mapping_are_used(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.set_remote_flags({"company-flag": False})
    client = make_client()
    client.feature_flags = [COMPANY]

    # Without the mapping the group flag cannot be decided locally (flags.md §7): remote says False.
    assert client.get_feature_flag("company-flag", "u", groups={"company": "acme"}) is False
    assert len(flag_requests(fake_server)) == 1

    client.group_type_mapping = {"0": "company"}
    assert client.group_type_mapping == {"0": "company"}
    assert client.get_feature_flag("company-flag", "u", groups={"company": "acme"}) is True
    assert client.get_feature_flag("company-flag", "u") is False  # group not passed: decided False
    assert len(flag_requests(fake_server)) == 1
    assert [f["key"] for f in client.feature_flags or []] == ["company-flag"]
    assert client.feature_flags_by_key is not None
    assert set(client.feature_flags_by_key) == {"company-flag"}


def test_assigned_cohorts_are_used(fake_server: FakePostHog, make_client: MakeClient) -> None:
    fake_server.set_remote_flags({"cohort-flag": False})
    client = make_client()
    client.feature_flags = [FlagBuilder("cohort-flag").condition([cohort(7)]).build()]

    assert client.get_feature_flag("cohort-flag", "u", person_properties={"email": "a@example.com"}) is False
    assert len(flag_requests(fake_server)) == 1  # unknown cohort: asked the server

    client.cohorts = {"7": {"type": "AND", "values": [prop("email", "@example.com", "icontains")]}}
    assert client.cohorts is not None
    assert client.get_feature_flag("cohort-flag", "u", person_properties={"email": "a@example.com"}) is True
    assert client.get_feature_flag("cohort-flag", "u", person_properties={"email": "a@other.org"}) is False
    assert len(flag_requests(fake_server)) == 1


# --- local first, remote fallback (flags.md §6-§7) -------------------------------------------------


def test_locally_decidable_flags_make_no_remote_request(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client(ALL_LOCAL)

    assert client.get_feature_flag("on", "u") is True
    assert client.feature_enabled("on", "u") is True
    assert client.get_feature_flag("pro-only", "u", person_properties={"plan": "pro"}) is True
    assert client.get_feature_flag("pro-only", "u", person_properties={"plan": "free"}) is False
    assert client.get_feature_flag("variant", "u") == "test"
    assert client.feature_enabled("variant", "u") is True
    assert client.get_feature_flag("off", "u") is False
    assert client.feature_enabled("off", "u") is False

    assert flag_requests(keyed_server) == []


@pytest.mark.parametrize(
    ("flag", "person_properties"),
    [(PRO_ONLY, {}), (CONTINUITY, {"plan": "pro"}), (ODD_OPERATOR, {"plan": "x"})],
    ids=["missing-property", "experience-continuity", "unknown-operator"],
)
def test_inconclusive_flag_asks_the_server_for_that_key(
    keyed_server: FakePostHog,
    local_client: Callable[..., posthog.Client],
    flag: dict[str, Any],
    person_properties: dict[str, Any],
) -> None:
    key = flag["key"]
    keyed_server.set_remote_flags({key: "from-server", "on": True})
    client = local_client([ON, flag])

    assert client.get_feature_flag(key, "u", person_properties=person_properties) == "from-server"

    [request] = flag_requests(keyed_server)
    assert request.json["flag_keys_to_evaluate"] == [key]
    assert request.json["person_properties"] == {"distinct_id": "u", **person_properties}


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_feature_flag("pro-only", "u", only_evaluate_locally=True),
        lambda c: c.feature_enabled("continuity", "u", only_evaluate_locally=True),
        lambda c: c.get_feature_flag_payload("pro-only", "u", only_evaluate_locally=True),
        lambda c: c.get_feature_flag("not-defined", "u", only_evaluate_locally=True),
    ],
    ids=["get_feature_flag", "feature_enabled", "payload", "undefined-flag"],
)
def test_only_evaluate_locally_never_asks(
    keyed_server: FakePostHog,
    local_client: Callable[..., posthog.Client],
    call: Callable[[posthog.Client], Any],
) -> None:
    keyed_server.set_remote_flags({"pro-only": True, "continuity": True, "not-defined": True})
    client = local_client([PRO_ONLY, CONTINUITY])

    assert call(client) is None
    assert flag_requests(keyed_server) == []


def test_only_evaluate_locally_still_answers_decidable_flags(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client([ON, PRO_ONLY])

    assert client.get_feature_flag("on", "u", only_evaluate_locally=True) is True
    assert (
        client.get_feature_flag("pro-only", "u", person_properties={"plan": "x"}, only_evaluate_locally=True)
        is False
    )
    assert flag_requests(keyed_server) == []


def test_flag_missing_from_definitions_goes_remote(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    keyed_server.set_remote_flags({"brand-new": "test"}, payloads={"brand-new": '"p"'})
    client = local_client([ON])

    assert client.get_feature_flag("brand-new", "u") == "test"
    assert client.get_feature_flag_payload("brand-new", "u") == '"p"'
    assert [r.json["flag_keys_to_evaluate"] for r in flag_requests(keyed_server)] == [["brand-new"]] * 2


def test_without_personal_key_everything_goes_remote(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.set_remote_flags({"beta": True})
    client = make_client()

    assert client.get_feature_flag("beta", "u") is True
    assert client.feature_flag_definitions() is None
    assert fake_server.requests_to(DEFS) == []


# --- payloads ------------------------------------------------------------------------------


def test_local_payload_is_returned_as_stored(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client(ALL_LOCAL)

    assert client.get_feature_flag_payload("on", "u") == '{"on": 1}'
    assert client.get_feature_flag_payload("variant", "u") == '{"colour": "blue"}'
    assert client.get_feature_flag_payload("variant", "u", match_value="control") == '{"colour": "red"}'
    assert client.get_feature_flag_payload("pro-only", "u", person_properties={"plan": "pro"}) == '"pro"'
    assert flag_requests(keyed_server) == []


@pytest.mark.parametrize(
    ("key", "kwargs"),
    [
        ("no-payload", {}),
        ("off", {}),
        ("pro-only", {"person_properties": {"plan": "free"}}),
        ("on", {"match_value": False}),
    ],
    ids=["matched-without-payload", "inactive", "not-matched", "match-value-false"],
)
def test_locally_decided_flag_without_payload_makes_no_request(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client], key: str, kwargs: dict[str, Any]
) -> None:
    # weaknesses §C 21: 3.x went remote on every such call.
    keyed_server.set_remote_flags({key: True}, payloads={key: '"server"'})
    client = local_client(ALL_LOCAL)

    assert client.get_feature_flag_payload(key, "u", **kwargs) is None
    assert flag_requests(keyed_server) == []


def test_inconclusive_payload_asks_the_server(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    keyed_server.set_remote_flags({"pro-only": True}, payloads={"pro-only": {"from": "server"}})
    client = local_client([PRO_ONLY])

    assert client.get_feature_flag_payload("pro-only", "u") == '{"from": "server"}'
    [request] = flag_requests(keyed_server)
    assert request.json["flag_keys_to_evaluate"] == ["pro-only"]


def test_remote_payload_is_the_stored_json_string(fake_server: FakePostHog, make_client: MakeClient) -> None:
    fake_server.set_remote_flags({"beta": True}, payloads={"beta": '{"nested": [1, 2]}'})

    payload = make_client().get_feature_flag_payload("beta", "u")

    assert payload == '{"nested": [1, 2]}'
    assert json.loads(payload) == {"nested": [1, 2]}


# --- get_all_flags: ask only for what is undecided (weaknesses §C 26) -----------------------------


def test_get_all_flags_fully_local_makes_no_request(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client(ALL_LOCAL)

    result = client.get_all_flags_and_payloads("u", person_properties={"plan": "pro"})

    assert result == {
        "featureFlags": {"on": True, "no-payload": True, "pro-only": True, "variant": "test", "off": False},
        "featureFlagPayloads": {"on": '{"on": 1}', "pro-only": '"pro"', "variant": '{"colour": "blue"}'},
    }
    assert client.get_all_flags("u", person_properties={"plan": "pro"}) == result["featureFlags"]
    assert flag_requests(keyed_server) == []


def test_get_all_flags_asks_only_for_undecided_keys_and_merges(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    keyed_server.set_remote_flags(
        {"on": False, "continuity": "server-variant", "pro-only": True},
        payloads={"continuity": '"c"', "pro-only": '"server-pro"', "on": '"server-on"'},
    )
    client = local_client([ON, CONTINUITY, PRO_ONLY, OFF])

    result = client.get_all_flags_and_payloads("u")

    assert result == {
        "featureFlags": {"on": True, "off": False, "continuity": "server-variant", "pro-only": True},
        "featureFlagPayloads": {"on": '{"on": 1}', "continuity": '"c"', "pro-only": '"server-pro"'},
    }
    [request] = flag_requests(keyed_server)
    assert sorted(request.json["flag_keys_to_evaluate"]) == ["continuity", "pro-only"]
    assert request.json["person_properties"] == {"distinct_id": "u"}


def test_get_all_flags_keeps_local_part_when_remote_fails(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client([ON, CONTINUITY], feature_flags_request_timeout_seconds=0.5)
    keyed_server.fail_next(FLAGS, times=3, status=500)

    assert client.get_all_flags("u") == {"on": True}


def test_get_all_flags_only_locally(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client([ON, CONTINUITY])

    assert client.get_all_flags("u", only_evaluate_locally=True) == {"on": True}
    assert flag_requests(keyed_server) == []


def test_get_all_flags_without_definitions_asks_for_everything(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.set_remote_flags({"a": True, "b": "v", "c": False}, payloads={"b": '"pb"', "c": '"pc"'})
    client = make_client()

    assert client.get_all_flags_and_payloads("u") == {
        "featureFlags": {"a": True, "b": "v", "c": False},
        "featureFlagPayloads": {"b": '"pb"'},
    }
    [request] = flag_requests(fake_server)
    assert "flag_keys_to_evaluate" not in request.json


def test_get_all_flags_group_flag_without_group_is_false_locally(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client([COMPANY])

    assert client.get_all_flags("u") == {"company-flag": False}
    assert client.get_all_flags("u", groups={"company": "acme"}) == {"company-flag": True}
    assert flag_requests(keyed_server) == []


# --- capture enrichment (api.md capture, flags.md §6) -----------------------------------------------


def _events_named(server: FakePostHog, name: str) -> list[dict[str, Any]]:
    return [e for e in server.events() if e["event"] == name]


def test_capture_adds_locally_decided_flags_without_a_request(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client([ON, VARIANT, OFF, PRO_ONLY, CONTINUITY])

    client.capture("u", "evt", {"own": 1})
    client.capture("u", "evt2", send_feature_flags=True)
    assert client.flush(2) == 0

    for name in ("evt", "evt2"):
        [event] = _events_named(keyed_server, name)
        props = event["properties"]
        assert props["$feature/on"] is True
        assert props["$feature/variant"] == "test"
        assert props["$feature/off"] is False
        # Inconclusive without properties: left out, not asked.
        assert "$feature/pro-only" not in props
        assert "$feature/continuity" not in props
        assert sorted(props["$active_feature_flags"]) == ["on", "variant"]
    assert flag_requests(keyed_server) == []


def test_capture_enrichment_follows_group_membership(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client([COMPANY])

    client.capture("u", "no-group")
    client.capture("u", "with-group", groups={"company": "acme"})
    client.capture("u", "no-group-again")
    client.flush(2)

    assert _events_named(keyed_server, "no-group")[0]["properties"]["$feature/company-flag"] is False
    assert _events_named(keyed_server, "with-group")[0]["properties"]["$feature/company-flag"] is True
    assert _events_named(keyed_server, "no-group-again")[0]["properties"]["$feature/company-flag"] is False


def test_capture_enrichment_follows_new_definitions(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client([ON])
    client.capture("u", "before")
    client.feature_flags = [OFF]
    client.capture("u", "after")
    client.flush(2)

    before = _events_named(keyed_server, "before")[0]["properties"]
    after = _events_named(keyed_server, "after")[0]["properties"]
    assert before["$feature/on"] is True
    assert "$feature/on" not in after
    assert after["$feature/off"] is False
    assert "$active_feature_flags" not in after


def test_feature_flag_called_events_are_not_enriched(
    keyed_server: FakePostHog, local_client: Callable[..., posthog.Client]
) -> None:
    client = local_client([ON, VARIANT])

    client.get_feature_flag("on", "u")
    client.flush(2)

    [event] = _events_named(keyed_server, "$feature_flag_called")
    props = event["properties"]
    assert props["$feature/on"] is True
    assert "$feature/variant" not in props
    assert "$active_feature_flags" not in props


def test_capture_without_definitions_asks_the_server_only_when_told(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.set_remote_flags({"beta": "test", "off": False})
    client = make_client()

    client.capture("u", "plain")
    client.flush(2)
    assert flag_requests(fake_server) == []
    assert not any(k.startswith("$feature") for k in _events_named(fake_server, "plain")[0]["properties"])

    client.capture("u", "flagged", send_feature_flags=True)
    client.flush(2)

    [request] = flag_requests(fake_server)
    assert request.json["groups"] == {}
    assert request.json["person_properties"] is None
    assert request.json["group_properties"] is None
    assert request.json["distinct_id"] == "u"
    props = _events_named(fake_server, "flagged")[0]["properties"]
    assert props["$feature/beta"] == "test"
    assert props["$feature/off"] is False
    assert props["$active_feature_flags"] == ["beta"]


def test_capture_send_feature_flags_survives_a_remote_failure(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.fail_next(FLAGS, times=3, status=500)
    client = make_client(feature_flags_request_timeout_seconds=0.5)

    client.capture("u", "flagged", {"own": 1}, send_feature_flags=True)
    client.flush(2)

    props = _events_named(fake_server, "flagged")[0]["properties"]
    assert props["own"] == 1
    assert not any(k.startswith("$feature") for k in props)


def test_a_flag_no_context_can_decide_is_logged_once_then_answered_at_once(
    fake_server: FakePostHog, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown group type (or a malformed flag) is undecided whatever the context: the first
    evaluation says why, later ones skip both passes; new definitions are evaluated afresh."""
    unknown_group = FlagBuilder("unknown-group", flag_id=9).group(5).condition([], rollout=100).build()
    broken = {"id": 10, "key": "broken", "active": True, "filters": {"groups": {"a": 1}}}
    client = make_client()
    client.group_type_mapping = {"0": "company"}
    client.feature_flags = [unknown_group, broken, ON]
    caplog.set_level("DEBUG", logger="posthog")
    local = {"only_evaluate_locally": True}
    for _ in range(3):
        assert client.get_feature_flag("unknown-group", "u", groups={"company": "c"}, **local) is None
        assert client.get_feature_flag("broken", "u", **local) is None
        assert client.get_all_flags("u", groups={"company": "c"}, **local) == {"on": True}
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "index 5" in r.getMessage()]
    assert len(warned) == 1
    snapshot = client._flags.source.current()
    assert snapshot is not None
    assert snapshot.flag_table["unknown-group"].known_undecided
    assert snapshot.flag_table["broken"].known_undecided
    assert not snapshot.flag_table["on"].undecidable

    client.group_type_mapping = {"0": "company", "5": "team"}  # a new snapshot: decided again
    assert client.get_feature_flag("unknown-group", "u", groups={"team": "t"}, **local) is True
    assert client.get_all_flags("u", groups={"team": "t"}, **local) == {"unknown-group": True, "on": True}


def test_a_group_flag_with_unreadable_conditions_is_still_off_without_its_group(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    """Its conditions cannot be read, but a group flag is decided off before they are: every
    call without the group answers False, whatever was evaluated before."""
    broken_variants = {
        "id": 11,
        "key": "broken-group",
        "active": True,
        "filters": {
            "aggregation_group_type_index": 0,
            "groups": [{"properties": [], "rollout_percentage": 100}],
            "multivariate": {"variants": [{"rollout_percentage": 100}]},  # no key
        },
    }
    client = make_client()
    client.group_type_mapping = {"0": "company"}
    client.feature_flags = [broken_variants]
    local = {"only_evaluate_locally": True}
    for _ in range(3):
        assert client.get_all_flags("u", **local) == {"broken-group": False}
        assert client.get_feature_flag("broken-group", "u", **local) is False
        assert client.get_feature_flag("broken-group", "u", groups={"company": "c"}, **local) is None
    assert client.get_all_flags("u", groups={"company": "c"}, **local) == {}
