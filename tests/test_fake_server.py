"""The fake PostHog server itself, exercised through real HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fake_server import FakePostHog, Fault, FaultKind, SilentServer
from tests.support.waiting import wait_for_value, wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = {
    "flags": [{"id": 1, "key": "beta", "active": True, "filters": {"groups": [{"rollout_percentage": 100}]}}],
    "group_type_mapping": {"0": "company"},
    "cohorts": {},
}


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    with FakePostHog(max_lifetime=60) as fake:
        yield fake
    assert fake.handler_errors == []


def _batch(*names: str) -> dict[str, Any]:
    return {
        "batch": [{"event": name, "distinct_id": "u1", "properties": {}} for name in names],
        "api_key": "phc_t",
    }


# -- /batch/ ---------------------------------------------------------------------------------------


def test_plain_batch_is_answered_recorded_and_counted(server: FakePostHog) -> None:
    response = requests.post(f"{server.url}/batch/", json=_batch("a", "b"), timeout=5)

    assert (response.status_code, response.json()) == (200, {"status": 1})
    assert [e["event"] for e in server.wait_for_events(2)] == ["a", "b"]
    [recorded] = server.requests
    assert (recorded.method, recorded.path, recorded.status) == ("POST", "/batch/", 200)
    assert recorded.header("content-type") == "application/json"
    assert recorded.headers["CONTENT-TYPE"] == "application/json"
    assert "Content-Type" in dict(recorded.headers)
    assert server.stats() == {"events": 2, "batches": 1, "requests": 1}


def test_gzip_batch_is_decoded_and_raw_body_kept(server: FakePostHog) -> None:
    raw = gzip.compress(json.dumps(_batch("zipped")).encode())

    response = requests.post(
        f"{server.url}/batch",
        data=raw,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        timeout=5,
    )

    assert response.status_code == 200
    [recorded] = server.requests
    assert recorded.raw_body == raw
    assert recorded.json == _batch("zipped")
    assert server.events()[0]["event"] == "zipped"


def test_malformed_json_is_answered_400_and_recorded(server: FakePostHog) -> None:
    response = requests.post(f"{server.url}/batch/", data=b"{not json", timeout=5)

    assert response.status_code == 400
    [recorded] = server.requests
    assert (recorded.status, recorded.json, recorded.body) == (400, None, b"{not json")
    assert server.events() == []


def test_keep_alive_serves_many_requests_on_one_connection(server: FakePostHog) -> None:
    with requests.Session() as session:
        for index in range(5):
            assert session.post(f"{server.url}/batch/", json=_batch(str(index)), timeout=5).status_code == 200

    assert server.connections == 1
    assert len(server.wait_for_events(5)) == 5


def test_connection_close_is_honoured(server: FakePostHog) -> None:
    with requests.Session() as session:
        for _ in range(2):
            response = session.post(
                f"{server.url}/batch/", json=_batch("x"), headers={"Connection": "close"}, timeout=5
            )
            assert response.headers["Connection"] == "close"

    assert server.connections == 2


def test_concurrent_clients_are_all_recorded(server: FakePostHog) -> None:
    def send() -> None:
        with requests.Session() as session:
            for _ in range(10):
                session.post(f"{server.url}/batch/", json=_batch("c", "c"), timeout=5)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(server.wait_for_events(120)) == 120


def test_no_record_mode_counts_events_but_keeps_no_bodies() -> None:
    with FakePostHog(record=False, max_lifetime=60) as fake:
        requests.post(f"{fake.url}/batch/", json=_batch("a", "b", "c"), timeout=5)

        assert fake.wait_for_events(3) == []
        assert fake.stats() == {"events": 3, "batches": 1, "requests": 1}
        assert fake.requests == []


def test_wait_for_events_times_out_with_a_clear_message(server: FakePostHog) -> None:
    started = time.monotonic()

    with pytest.raises(AssertionError, match=r"expected at least 1 events .*stats="):
        server.wait_for_events(1, timeout=0.1)
    assert time.monotonic() - started < 2


def test_clear_forgets_requests_and_counters(server: FakePostHog) -> None:
    requests.post(f"{server.url}/batch/", json=_batch("a"), timeout=5)

    server.clear()

    assert server.requests == []
    assert server.stats() == {"events": 0, "batches": 0, "requests": 0}


# -- /flags/ and /decide/ --------------------------------------------------------------------------


def test_flags_answer_in_the_v2_shape(server: FakePostHog) -> None:
    server.set_remote_flags(
        {"beta": "variant-a", "on": True, "off": False},
        payloads={"beta": '{"a": 1}', "on": {"b": 2}},
        request_id="req-1",
    )

    body = requests.post(f"{server.url}/flags/?v=2", json={"distinct_id": "u1"}, timeout=5).json()

    assert body["requestId"] == "req-1"
    assert body["errorsWhileComputingFlags"] is False
    assert body["quotaLimited"] == []
    assert body["flags"]["beta"] == {
        "key": "beta",
        "enabled": True,
        "variant": "variant-a",
        "reason": {"code": "condition_match", "condition_index": 0, "description": "Matched condition set 1"},
        "metadata": {"id": 1, "version": 1, "payload": '{"a": 1}', "description": None},
    }
    assert body["flags"]["on"]["metadata"]["payload"] == '{"b": 2}'
    assert body["flags"]["off"]["enabled"] is False
    assert body["flags"]["off"]["variant"] is None
    assert body["flags"]["off"]["reason"]["code"] == "no_condition_match"


def test_decide_gets_the_same_answer_and_quota_limits_show(server: FakePostHog) -> None:
    server.set_remote_flags({"on": True}, quota_limited=True, errors_while_computing=True)

    body = requests.post(f"{server.url}/decide/?v=4", json={"distinct_id": "u1"}, timeout=5).json()

    assert body["flags"]["on"]["enabled"] is True
    assert body["quotaLimited"] == ["feature_flags"]
    assert body["errorsWhileComputingFlags"] is True


def test_flag_keys_to_evaluate_limits_the_answer(server: FakePostHog) -> None:
    server.set_remote_flags({"a": True, "b": "x", "c": False})

    body = requests.post(
        f"{server.url}/flags/", json={"distinct_id": "u1", "flag_keys_to_evaluate": ["b", "zzz"]}, timeout=5
    ).json()

    assert list(body["flags"]) == ["b"]


def test_remote_flags_handler_overrides_the_answer(server: FakePostHog) -> None:
    seen: list[dict[str, Any]] = []

    def handler(body: dict[str, Any]) -> tuple[int, Any]:
        seen.append(body)
        return 200, {"featureFlags": {"legacy": True}}

    server.remote_flags_handler = handler

    body = requests.post(f"{server.url}/flags/?v=2", json={"distinct_id": "u9"}, timeout=5).json()

    assert body == {"featureFlags": {"legacy": True}}
    assert seen == [{"distinct_id": "u9"}]


def test_a_raising_flags_handler_answers_500_and_is_reported(server: FakePostHog) -> None:
    def handler(body: dict[str, Any]) -> tuple[int, Any]:
        raise RuntimeError("boom")

    server.remote_flags_handler = handler

    response = requests.post(f"{server.url}/flags/", json={}, timeout=5)

    assert response.status_code == 500
    assert "RuntimeError: boom" in server.handler_errors[0]
    server.handler_errors.clear()


# -- local evaluation and remote config -------------------------------------------------------------


def test_definitions_serve_an_etag_and_answer_304_when_it_matches(server: FakePostHog) -> None:
    server.set_flag_definitions(DEFINITIONS)
    url = f"{server.url}/api/feature_flag/local_evaluation/?token=phc_t&send_cohorts"

    first = requests.get(url, timeout=5)
    second = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=5)
    other = requests.get(url, headers={"If-None-Match": '"stale"'}, timeout=5)

    assert (first.status_code, first.json()) == (200, DEFINITIONS)
    assert first.headers["ETag"] == server.definitions_etag
    assert (second.status_code, second.content) == (304, b"")
    assert other.status_code == 200
    assert server.requests[0].query == {"token": ["phc_t"], "send_cohorts": [""]}


def test_definitions_default_to_empty_and_work_without_trailing_slash(server: FakePostHog) -> None:
    response = requests.get(f"{server.url}/api/feature_flag/local_evaluation", timeout=5)

    assert response.json() == {"flags": [], "group_type_mapping": {}, "cohorts": {}}


def test_wrong_personal_key_gets_401(server: FakePostHog) -> None:
    server.personal_api_key = "phx_good"
    server.set_remote_config("beta", {"x": 1})
    definitions = f"{server.url}/api/feature_flag/local_evaluation/"
    remote_config = f"{server.url}/api/projects/@current/feature_flags/beta/remote_config/"

    def get(url: str, key: str) -> requests.Response:
        return requests.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=5)

    assert get(definitions, "phx_bad").status_code == 401
    assert "detail" in get(definitions, "phx_bad").json()
    assert get(remote_config, "phx_bad").status_code == 401
    assert get(definitions, "phx_good").status_code == 200
    assert get(remote_config, "phx_good").json() == {"x": 1}


def test_remote_config_known_and_unknown_keys(server: FakePostHog) -> None:
    server.set_remote_config("beta", "decrypted")

    known = requests.get(f"{server.url}/api/projects/123/feature_flags/beta/remote_config", timeout=5)
    unknown = requests.get(f"{server.url}/api/projects/@current/feature_flags/nope/remote_config/", timeout=5)

    assert (known.status_code, known.json()) == (200, "decrypted")
    assert unknown.status_code == 404


# -- scripted faults -------------------------------------------------------------------------------


def test_fail_next_answers_with_status_and_retry_after_then_recovers(server: FakePostHog) -> None:
    server.fail_next("/batch/", times=2, status=429, retry_after=3)

    with requests.Session() as session:
        answers = [session.post(f"{server.url}/batch/", json=_batch("r"), timeout=5) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert "detail" in answers[0].json()
    assert [r.status for r in server.requests] == [429, 429, 200]
    assert len(server.events()) == 1  # failed batches are recorded but not accepted


def test_fail_next_matches_by_prefix_and_custom_body(server: FakePostHog) -> None:
    server.fail_next("/flags", status=402, body={"detail": "quota"})
    server.fail_next("/decide", status=502, body="<html>bad gateway</html>")

    other = requests.post(f"{server.url}/batch/", json=_batch("a"), timeout=5)
    failed = requests.post(f"{server.url}/flags/?v=2", json={"distinct_id": "u"}, timeout=5)
    text = requests.post(f"{server.url}/decide/", json={"distinct_id": "u"}, timeout=5)

    assert other.status_code == 200
    assert (failed.status_code, failed.json()) == (402, {"detail": "quota"})
    assert (text.status_code, text.text) == (502, "<html>bad gateway</html>")


def test_drop_next_closes_the_connection_without_an_answer(server: FakePostHog) -> None:
    server.drop_next("/batch/")

    with pytest.raises(requests.ConnectionError):
        requests.post(f"{server.url}/batch/", json=_batch("lost"), timeout=5)
    after = requests.post(f"{server.url}/batch/", json=_batch("kept"), timeout=5)

    assert after.status_code == 200
    assert [r.status for r in server.requests] == [None, 200]
    assert [e["event"] for e in server.events()] == ["kept"]


def test_delay_next_answers_late_once(server: FakePostHog) -> None:
    server.delay_next("/flags/", 0.3)

    started = time.monotonic()
    requests.post(f"{server.url}/flags/", json={}, timeout=5)
    slow = time.monotonic() - started
    started = time.monotonic()
    requests.post(f"{server.url}/flags/", json={}, timeout=5)
    fast = time.monotonic() - started

    assert slow >= 0.3
    assert fast < 0.3


@pytest.mark.serial
def test_set_delay_applies_until_removed(server: FakePostHog) -> None:
    server.set_delay("/batch/", 0.2)

    with requests.Session() as session:
        started = time.monotonic()
        session.post(f"{server.url}/batch/", json=_batch("a"), timeout=5)
        session.post(f"{server.url}/batch/", json=_batch("b"), timeout=5)
        assert time.monotonic() - started >= 0.4
        server.set_delay("/batch/", 0)
        started = time.monotonic()
        session.post(f"{server.url}/batch/", json=_batch("c"), timeout=5)
        assert time.monotonic() - started < 0.2


def test_fail_for_fails_every_request_until_it_expires(server: FakePostHog) -> None:
    server.fail_for("/batch/", 0.3)

    with requests.Session() as session:
        during = [session.post(f"{server.url}/batch/", json=_batch("x"), timeout=5) for _ in range(3)]
        time.sleep(0.35)
        after = session.post(f"{server.url}/batch/", json=_batch("y"), timeout=5)

    assert [a.status_code for a in during] == [503, 503, 503]
    assert after.status_code == 200
    assert server.faults.pending() == 0
    assert [e["event"] for e in server.events()] == ["y"]


def test_clear_faults_ends_an_until_cleared_fault_and_keeps_the_recordings(server: FakePostHog) -> None:
    server.faults.add(Fault(FaultKind.FAIL, "/batch", status=503), None)
    server.set_delay("/flags", 0.1)
    requests.post(f"{server.url}/batch/", json=_batch("a"), timeout=5)

    server.clear_faults()
    requests.post(f"{server.url}/batch/", json=_batch("b"), timeout=5)

    assert [r.status for r in server.requests] == [503, 200]
    assert server.faults.delay_for("/flags") == 0.0
    assert server.stats()["events"] == 1


def test_a_restarted_server_gets_its_port_back_after_serving() -> None:
    with FakePostHog(max_lifetime=60) as first:
        port = first.port
        with requests.Session() as session:  # closing leaves TIME_WAIT connections on the server side
            session.post(f"{first.url}/batch/", json=_batch("a"), timeout=5)

    with FakePostHog(port=port, max_lifetime=60) as second:
        assert second.port == port
        assert requests.post(f"{second.url}/batch/", json=_batch("b"), timeout=5).status_code == 200


def test_hang_never_answers_and_close_stays_bounded() -> None:
    fake = FakePostHog(max_lifetime=60).start()
    fake.hang("/batch/")
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            requests.post(f"{fake.url}/batch/", json=_batch("stuck"), timeout=10)
        except requests.RequestException as exc:
            outcome.append(exc)

    client = threading.Thread(target=send)
    client.start()
    fake.wait_for_requests("/batch/", 1)

    started = time.monotonic()
    fake.close()
    closing_took = time.monotonic() - started
    client.join(5)

    assert closing_took < 1.5
    assert not client.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], requests.ConnectionError)
    assert fake.events() == []


def test_close_with_an_idle_keep_alive_connection_is_bounded() -> None:
    with requests.Session() as session:
        fake = FakePostHog(max_lifetime=60).start()
        session.post(f"{fake.url}/batch/", json=_batch("a"), timeout=5)

        started = time.monotonic()
        fake.close()

        assert time.monotonic() - started < 1.0
        assert fake.closed


def test_max_lifetime_stops_the_server() -> None:
    fake = FakePostHog(max_lifetime=0.2).start()
    try:
        wait_until(lambda: fake.closed, timeout=5, message="server outlived max_lifetime")

        with pytest.raises(requests.ConnectionError):
            requests.post(f"{fake.url}/batch/", json=_batch("late"), timeout=2)
    finally:
        fake.close()


# -- SilentServer ----------------------------------------------------------------------------------


def test_silent_server_accepts_and_never_answers() -> None:
    with SilentServer(max_lifetime=60) as silent:
        with pytest.raises(requests.ReadTimeout):
            requests.post(f"{silent.url}/batch/", json=_batch("x"), timeout=(2, 0.3))

        assert silent.accepted == 1
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    assert silent.closed


def test_silent_server_stops_after_max_lifetime() -> None:
    silent = SilentServer(max_lifetime=0.2).start()
    try:
        wait_until(lambda: silent.closed, timeout=5, message="silent server outlived max_lifetime")
        with pytest.raises(requests.ConnectionError):
            requests.get(silent.url, timeout=2)
    finally:
        silent.close()


# -- running in another process --------------------------------------------------------------------


def _start_subprocess(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_server", "--max-seconds", "60", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 15)
    line = process.stdout.readline() if ready else ""
    if not line.startswith("FAKE_POSTHOG_URL="):
        process.kill()
        _, err = process.communicate(timeout=5)
        pytest.fail(f"fake server did not announce its URL: {line!r} {err}")
    return process, line.strip().split("=", 1)[1]


def _stop_subprocess(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=5)
    return process.returncode


def test_control_endpoints_of_a_subprocess_server() -> None:
    process, url = _start_subprocess()
    try:
        config = {
            "remote_flags": {"beta": "test"},
            "payloads": {"beta": "1"},
            "flag_definitions": DEFINITIONS,
            "personal_api_key": "phx_k",
            "remote_config": {"beta": {"c": 1}},
        }
        assert requests.post(f"{url}/_fake/config", json=config, timeout=5).status_code == 200
        assert requests.post(f"{url}/_fake/config", json={"nope": 1}, timeout=5).status_code == 400

        requests.post(f"{url}/batch/", json=_batch("a", "b", "c"), timeout=5)
        flags = requests.post(f"{url}/flags/?v=2", json={"distinct_id": "u"}, timeout=5).json()
        auth = {"Authorization": "Bearer phx_k"}
        definitions = requests.get(f"{url}/api/feature_flag/local_evaluation/", headers=auth, timeout=5)

        assert flags["flags"]["beta"]["variant"] == "test"
        assert definitions.json() == DEFINITIONS
        assert requests.get(f"{url}/_fake/wait?events=3&timeout=5", timeout=10).status_code == 200
        assert requests.get(f"{url}/_fake/stats", timeout=5).json() == {
            "events": 3,
            "batches": 1,
            "requests": 3,
        }
        recorded = requests.get(f"{url}/_fake/requests", timeout=5).json()
        assert [r["path"] for r in recorded] == ["/batch/", "/flags/", "/api/feature_flag/local_evaluation/"]
        assert recorded[0]["json"] == _batch("a", "b", "c")

        fault = {"kind": "fail", "path": "/batch/", "status": 500}
        assert requests.post(f"{url}/_fake/fault", json=fault, timeout=5).status_code == 200
        assert requests.post(f"{url}/batch/", json=_batch("x"), timeout=5).status_code == 500

        assert [e["event"] for e in requests.get(f"{url}/_fake/events", timeout=5).json()] == ["a", "b", "c"]
        until_cleared = {"path": "/batch", "status": 503, "times": None}
        assert requests.post(f"{url}/_fake/fault", json=until_cleared, timeout=5).status_code == 200
        assert requests.post(f"{url}/batch/", json=_batch("y"), timeout=5).status_code == 503
        assert requests.post(f"{url}/batch/", json=_batch("y"), timeout=5).status_code == 503
        assert requests.delete(f"{url}/_fake/fault", timeout=5).status_code == 200
        assert requests.post(f"{url}/batch/", json=_batch("z"), timeout=5).status_code == 200
        timed = {"path": "/batch", "status": 502, "times": None, "duration": 0.3}
        assert requests.post(f"{url}/_fake/fault", json=timed, timeout=5).status_code == 200
        assert requests.post(f"{url}/batch/", json=_batch("w"), timeout=5).status_code == 502
        time.sleep(0.35)
        assert requests.post(f"{url}/batch/", json=_batch("w"), timeout=5).status_code == 200
        bad = {"path": "/batch", "duration": 0}
        assert requests.post(f"{url}/_fake/fault", json=bad, timeout=5).status_code == 400

        requests.post(f"{url}/_fake/reset", timeout=5)
        requests.post(f"{url}/_fake/config", json={"record": False}, timeout=5)
        requests.post(f"{url}/batch/", json=_batch("d", "e"), timeout=5)

        assert requests.get(f"{url}/_fake/stats", timeout=5).json() == {
            "events": 2,
            "batches": 1,
            "requests": 1,
        }
        assert requests.get(f"{url}/_fake/requests", timeout=5).json() == []
    finally:
        returncode = _stop_subprocess(process)
    assert returncode == 0


def test_subprocess_server_exits_by_itself_after_max_seconds() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "tests.fake_server", "--max-seconds", "0.3"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=15,
    )

    assert process.returncode == 0
    assert process.stdout.startswith("FAKE_POSTHOG_URL=http://127.0.0.1:")
    assert process.stderr == ""


def test_silent_subprocess_server_never_answers() -> None:
    process, url = _start_subprocess("--silent")
    try:
        with pytest.raises(requests.ReadTimeout):
            requests.get(url, timeout=(2, 0.3))
    finally:
        returncode = _stop_subprocess(process)
    assert returncode == 0


# -- tests/support/waiting.py ------------------------------------------------------------------------


def test_wait_until_returns_once_the_predicate_holds() -> None:
    calls = iter([False, False, True])

    wait_until(lambda: next(calls), timeout=2)


def test_wait_until_raises_with_the_message_on_timeout() -> None:
    with pytest.raises(AssertionError, match="never ready"):
        wait_until(lambda: False, timeout=0.05, message="never ready")


def test_wait_for_value_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, "", "found"])

    assert wait_for_value(lambda: next(values), timeout=2) == "found"
