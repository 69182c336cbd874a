"""Flags without a network: flag_definitions= (dict or file), the definitions cache, and the kill switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import posthog
from tests.fake_server import FakePostHog, SilentServer
from tests.support.builders import FlagBuilder, cohort, definitions, prop, property_group
from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]
PERSONAL_KEY = "phx_offline_test"

DEFINITIONS = definitions(
    [
        FlagBuilder("half-rollout", flag_id=1).condition([], rollout=50).build(),
        FlagBuilder("pro-feature", flag_id=2).condition([prop("plan", "pro")]).build(),
        FlagBuilder("checkout-exp", flag_id=3)
        .condition([prop("email", r".*@example\.com$", "regex")])
        .variants(("control", 50), ("test", 50))
        .payload("control", '{"color": "grey"}')
        .payload("test", '{"color": "blue"}')
        .build(),
        FlagBuilder("big-companies", flag_id=4)
        .group(0)
        .condition([prop("size", 100, "gt", type="group", group_type_index=0)])
        .build(),
        FlagBuilder("french-users", flag_id=5).condition([cohort(7)]).build(),
        FlagBuilder("switched-off", flag_id=6).condition([]).inactive().build(),
    ],
    group_type_mapping={"0": "company"},
    cohorts={"7": property_group("OR", property_group("AND", prop("country", "FR")))},
)

# (distinct_id, person_properties, groups, group_properties)
Case = tuple[str, Mapping[str, Any], Mapping[str, Any], Mapping[str, Mapping[str, Any]]]
CASES: list[Case] = [
    ("ada", {"plan": "pro", "email": "ada@example.com", "country": "FR"}, {}, {}),
    ("bob", {"plan": "free", "email": "bob@elsewhere.org", "country": "DE"}, {}, {}),
    ("cyd", {}, {"company": "acme"}, {"company": {"size": 500}}),
    ("dan", {"plan": "pro"}, {"company": "tiny"}, {"company": {"size": 3}}),
    *[(f"user-{n}", {"plan": "free", "email": f"u{n}@example.com"}, {}, {}) for n in range(12)],
]


def _answers(client: posthog.Client) -> list[Any]:
    """Every flag's value and payload for every case, decided locally only."""
    out: list[Any] = []
    for distinct_id, person, groups, group_props in CASES:
        kwargs: dict[str, Any] = {
            "groups": groups,
            "person_properties": person,
            "group_properties": group_props,
            "only_evaluate_locally": True,
        }
        out.append(client.get_all_flags_and_payloads(distinct_id, **kwargs))
        for flag in DEFINITIONS["flags"]:
            out.append(client.get_feature_flag(flag["key"], distinct_id, **kwargs))
            out.append(client.get_feature_flag_payload(flag["key"], distinct_id, **kwargs))
    return out


@pytest.fixture
def definitions_file(tmp_path: Path) -> Path:
    path = tmp_path / "local_evaluation.json"
    path.write_text(json.dumps(DEFINITIONS))
    return path


@pytest.fixture
def keyed_server(fake_server: FakePostHog) -> FakePostHog:
    """The fake server serving DEFINITIONS behind a personal API key."""
    fake_server.personal_api_key = PERSONAL_KEY
    fake_server.set_flag_definitions(DEFINITIONS)
    return fake_server


def _flag_requests(server: FakePostHog) -> list[str]:
    return [r.path for r in server.requests if not r.path.startswith("/batch")]


# --- flag_definitions= ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["dict", "path"])
def test_offline_definitions_evaluate_with_no_key_and_no_request(
    source: str, definitions_file: Path, make_client: Callable[..., posthog.Client], fake_server: FakePostHog
) -> None:
    client = make_client(flag_definitions=DEFINITIONS if source == "dict" else definitions_file)

    ada = client.get_all_flags("ada", person_properties=CASES[0][1])
    unknown = client.get_feature_flag("not-defined", "ada")
    undecidable = client.get_feature_flag("pro-feature", "ada")  # no "plan" given: inconclusive
    client.capture("ada", "page viewed")
    client.flush(2)

    assert ada is not None
    assert (ada["pro-feature"], ada["checkout-exp"] in ("control", "test"), ada["french-users"]) == (
        True,
        True,
        True,
    )
    assert (unknown, undecidable) == (None, None)
    assert _flag_requests(fake_server) == []
    assert [e["event"] for e in fake_server.events()][-1] == "page viewed"


def test_offline_definitions_answer_like_the_same_definitions_served(
    keyed_server: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    online = make_client(personal_api_key=PERSONAL_KEY)
    assert online.wait_for_flags(5)
    offline = make_client(flag_definitions=DEFINITIONS)

    assert _answers(offline) == _answers(online)
    assert len(keyed_server.requests_to("/api/feature_flag/local_evaluation")) >= 1


def test_offline_definitions_enrich_captures_locally(
    make_client: Callable[..., posthog.Client], fake_server: FakePostHog
) -> None:
    client = make_client(flag_definitions=DEFINITIONS)

    client.capture("user-1", "checkout", send_feature_flags=True)
    client.flush(2)

    (event,) = fake_server.events()
    assert event["properties"]["$feature/half-rollout"] in (True, False)
    assert _flag_requests(fake_server) == []


# --- flag_definitions_cache= ----------------------------------------------------------------------


@pytest.fixture
def warm_cache(
    tmp_path: Path, keyed_server: FakePostHog, make_client: Callable[..., posthog.Client]
) -> Iterator[Path]:
    """A cache file written by a client that fetched DEFINITIONS from the server."""
    path = tmp_path / "flags-cache.json"
    first = make_client(personal_api_key=PERSONAL_KEY, flag_definitions_cache=path)
    assert first.wait_for_flags(5)
    wait_until(path.exists, timeout=2, message="the definitions cache was never written")
    first.shutdown(2)
    yield path


def test_cache_persists_the_fetched_definitions(warm_cache: Path, keyed_server: FakePostHog) -> None:
    cached = json.loads(warm_cache.read_text())

    assert cached["definitions"] == DEFINITIONS
    assert cached["etag"] == keyed_server.definitions_etag


@pytest.fixture(params=["answers-500", "never-answers", "refuses"])
def broken_host(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostHog host that cannot serve definitions."""
    if request.param == "answers-500":
        with FakePostHog() as server:
            server.fail_next("/api/feature_flag/local_evaluation", times=1000, status=500)
            yield server.url
    elif request.param == "never-answers":
        with SilentServer() as silent:
            yield silent.url
    else:
        with FakePostHog() as gone:
            url = gone.url
        yield url  # closed: connections are refused


def test_a_second_client_starts_warm_from_the_cache(
    warm_cache: Path, broken_host: str, make_client: Callable[..., posthog.Client]
) -> None:
    reference = make_client(flag_definitions=DEFINITIONS)
    second = make_client(
        host=broken_host,
        personal_api_key=PERSONAL_KEY,
        flag_definitions_cache=warm_cache,
        feature_flags_request_timeout_seconds=3,
    )

    started = time.monotonic()
    answers = _answers(second)
    elapsed = time.monotonic() - started

    assert answers == _answers(reference)
    assert elapsed < 1.0  # no wait for a first load that cannot succeed
    assert json.loads(warm_cache.read_text())["definitions"] == DEFINITIONS  # a failure keeps the file


def test_a_warm_client_keeps_its_definitions_after_a_failed_poll(
    warm_cache: Path, keyed_server: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    keyed_server.clear()
    keyed_server.fail_next("/api/feature_flag/local_evaluation", times=1000, status=500)
    reference = make_client(flag_definitions=DEFINITIONS)

    second = make_client(personal_api_key=PERSONAL_KEY, flag_definitions_cache=warm_cache)
    keyed_server.wait_for_requests("/api/feature_flag/local_evaluation", 1, timeout=5)

    assert _answers(second) == _answers(reference)


def test_a_warm_client_revalidates_with_the_cached_etag(
    warm_cache: Path, keyed_server: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    keyed_server.clear()

    second = make_client(personal_api_key=PERSONAL_KEY, flag_definitions_cache=warm_cache)
    (request,) = keyed_server.wait_for_requests("/api/feature_flag/local_evaluation", 1, timeout=5)

    assert request.header("If-None-Match") == keyed_server.definitions_etag
    assert second.get_feature_flag("pro-feature", "ada", person_properties={"plan": "pro"}) is True


def test_a_stale_cache_is_not_used(
    tmp_path: Path, broken_host: str, make_client: Callable[..., posthog.Client]
) -> None:
    path = tmp_path / "old-cache.json"
    path.write_text(
        json.dumps({"fetched_at": time.time() - 2 * 3600, "etag": None, "definitions": DEFINITIONS})
    )

    client = make_client(
        host=broken_host,
        personal_api_key=PERSONAL_KEY,
        flag_definitions_cache=path,
        feature_flags_request_timeout_seconds=0.2,
    )

    value = client.get_feature_flag(
        "pro-feature", "ada", person_properties={"plan": "pro"}, only_evaluate_locally=True
    )

    assert value is None


# Regression: the cache once held no project, so another project sharing the path used its flags.
def test_a_cache_written_for_another_project_is_not_used(
    warm_cache: Path, make_client: Callable[..., posthog.Client]
) -> None:
    other = make_client(
        api_key="phc_another_project",
        host="http://127.0.0.1:9",
        personal_api_key=PERSONAL_KEY,
        flag_definitions_cache=warm_cache,
        feature_flags_request_timeout_seconds=0.2,
    )

    value = other.get_feature_flag(
        "pro-feature", "ada", person_properties={"plan": "pro"}, only_evaluate_locally=True
    )

    assert value is None


# --- the global kill switch: POSTHOG_DISABLED=1 ---------------------------------------------------

KILL_SWITCH_SCRIPT = """
import sys, threading
import posthog

base = set(threading.enumerate())
client = posthog.Client("phc_x", host=sys.argv[1], personal_api_key="phx_p", flush_interval=0.01,
                        enable_exception_autocapture=True)
results = [
    client.capture("u", "e"),
    client.identify("u", {"a": 1}),
    client.alias("u", "v"),
    client.group_identify("company", "acme", {"n": 1}),
    client.capture_exception(ValueError("x"), "u"),
    client.get_feature_flag("f", "u"),
    client.feature_enabled("f", "u"),
    client.get_feature_flag_payload("f", "u"),
    client.get_all_flags_and_payloads("u"),
    client.get_remote_config_payload("f"),
    client.flush(1),
]
posthog.api_key, posthog.host, posthog.personal_api_key = "phc_x", sys.argv[1], "phx_p"
results += [posthog.capture("u", "e"), posthog.get_feature_flag("f", "u")]
client.shutdown(1)
posthog.shutdown(1)
print(repr(results))
print(sorted(t.name for t in set(threading.enumerate()) - base))
"""

REMOTE_CALLS_SCRIPT = """
import sys, threading
import posthog

client = posthog.Client("phc_x", host=sys.argv[1], personal_api_key="phx_p")
getattr(client, sys.argv[2])(*sys.argv[3:])
client.shutdown(1)
print(sorted(t.name for t in threading.enumerate() if t.name.startswith("posthog")))
"""


LOADING_AND_REMOTE_CALLS: list[tuple[str, tuple[str, ...]]] = [
    ("load_feature_flags", ()),
    ("wait_for_flags", ()),
    ("get_flags_decision", ("u",)),
    ("get_feature_variants", ("u",)),
    ("get_feature_payloads", ("u",)),
    ("get_feature_flags_and_payloads", ("u",)),
]


def _run_disabled(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POSTHOG_DISABLED": "1", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


@pytest.fixture
def flag_server(fake_server: FakePostHog) -> FakePostHog:
    fake_server.set_flag_definitions(definitions([FlagBuilder("f").condition().build()]))
    fake_server.set_remote_flags({"f": True})
    return fake_server


def test_kill_switch_disables_a_configured_client(flag_server: FakePostHog) -> None:
    result = _run_disabled(KILL_SWITCH_SCRIPT, flag_server.url)

    results, threads = result.stdout.strip().splitlines()
    assert results == (
        "[(False, 'disabled'), (False, 'disabled'), (False, 'disabled'), (False, 'disabled'), "
        "(False, 'disabled'), None, None, None, {'featureFlags': None, 'featureFlagPayloads': None}, "
        "None, 0, (False, 'disabled'), None]"
    )
    assert threads == "[]"
    assert flag_server.requests == []


# Regression: these once fetched definitions, started the poller or called /flags/ while disabled.
@pytest.mark.parametrize(
    ("method", "args"), LOADING_AND_REMOTE_CALLS, ids=[m for m, _ in LOADING_AND_REMOTE_CALLS]
)
def test_kill_switch_covers_the_loading_and_remote_helpers(
    flag_server: FakePostHog, method: str, args: tuple[str, ...]
) -> None:
    result = _run_disabled(REMOTE_CALLS_SCRIPT, flag_server.url, method, *args)

    assert flag_server.requests == []
    assert result.stdout.strip() == "[]"
