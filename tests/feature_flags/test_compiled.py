"""Compiled conditions and 7.x plans answer exactly as the interpreted walks they replace.

``compiled.conditions_of`` must agree with ``evaluation.match_conditions`` and a compiled plan
(``Plan.run``) with ``nothing_given`` + ``run_plan``, on the differential generator's hostile
definitions and contexts: same value, same undecided reason, same exception class.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Callable

import pytest

import posthog
from benchmarks.compare_flags import Generator
from posthog.feature_flags import newer
from posthog.feature_flags.compiled import conditions_of
from posthog.feature_flags.definitions import CohortFilter, FlagDefinitions, parse_flag
from posthog.feature_flags.evaluation import augment_properties, lookup_payload, match_conditions
from posthog.feature_flags.newer_plan import nothing_given, plan_for, run_plan
from posthog.feature_flags.properties import Undecided
from tests.fake_server import FakePostHog
from tests.support.builders import FlagBuilder, definitions, prop


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "value", call()
    except Exception as exc:  # the class is the contract: callers turn any of them into undecided
        return "raised", type(exc).__name__


def _filed(whole: Any, flag: Any, bucketing: object, properties: Any, cohorts: Any) -> Any:
    """What a ``whole_of`` function files for ``flag``: its value (and the payload filed with it,
    which must be the flag's payload for that value), or None when it files the key undecided."""
    values: dict[str, Any] = {}
    payloads: dict[str, Any] = {}
    undecided: list[str] = []
    assert whole(bucketing, properties, cohorts, values, payloads, undecided) is None
    if undecided:
        assert undecided == [flag.key] and not values and not payloads
        return None
    assert list(values) == [flag.key]
    value = values[flag.key]
    assert payloads == ({flag.key: lookup_payload(flag, value)} if lookup_payload(flag, value) else {})
    return value


def _cases(seed: int, count: int) -> list[dict[str, Any]]:
    generator = Generator(seed, malformed=0.1)
    return [generator.case(index) for index in range(count)]


def _person(case: dict[str, Any]) -> dict[str, Any]:
    return augment_properties(case["distinct_id"], case["groups"], case["person_properties"], None)[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compiled_conditions_answer_as_match_conditions(seed: int) -> None:
    cases = _cases(seed, 600)
    contexts = [_person(case) for case in cases]
    compared = compiled = 0
    for index, case in enumerate(cases):
        snapshot = FlagDefinitions.parse(case["flags"], case["group_type_mapping"], case["cohorts"])
        flag = snapshot.flags[0]
        function = conditions_of(flag)
        compiled += function.__class__.__name__ == "function"
        # the properties drawn for this flag, and those of three other flags
        others = [("user-1", contexts[index - 1]), (42, contexts[index - 2]), ("x", contexts[index - 3])]
        for bucketing, properties in [(case["distinct_id"], contexts[index]), *others]:
            for cohorts in (snapshot.cohort_table, None):
                ours = _outcome(lambda: function(bucketing, properties, cohorts))  # noqa: B023
                walked = _outcome(lambda: match_conditions(flag, bucketing, properties, cohorts))  # noqa: B023
                assert ours == walked, (flag.raw, properties)
                compared += 1
    assert compared > 4000
    assert compiled > 400  # most flags compile; the malformed ones keep the walk


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compiled_plans_answer_as_nothing_given_then_run_plan(seed: int) -> None:
    cases = _cases(seed, 600)
    contexts = [_person(case) for case in cases]
    compared = 0
    for index, case in enumerate(cases):
        flag = parse_flag(case["flags"][0])
        plan = plan_for(flag)
        if plan.conditions is None:
            assert plan.run is None
            continue
        assert plan.run is not None
        for bucketing, properties in [(case["distinct_id"], contexts[index]), (7, contexts[index - 1])]:

            def walked() -> Any:
                if nothing_given(plan, properties):  # noqa: B023
                    return None
                return run_plan(plan.conditions, flag, bucketing, properties)  # type: ignore[arg-type]  # noqa: B023

            assert _outcome(lambda: plan.run(bucketing, properties)) == _outcome(walked)  # type: ignore[misc]  # noqa: B023
            compared += 1
    assert compared > 500


def test_definition_text_never_becomes_code() -> None:
    """Keys, operands, variants and flag keys are names bound in the function, not source."""
    hostile = '"); import os; os._exit(3)  # '
    raw = {
        "key": hostile,
        "active": True,
        "filters": {
            "groups": [
                {
                    "properties": [{"key": hostile, "value": hostile, "operator": "exact", "type": "person"}],
                    "rollout_percentage": 100,
                    "variant": hostile,
                }
            ],
            "multivariate": {"variants": [{"key": hostile, "rollout_percentage": 100}]},
        },
    }
    flag = parse_flag(raw)
    function = conditions_of(flag)
    assert function.__class__.__name__ == "function"
    assert function("u", {hostile: hostile}, None) == hostile
    assert function("u", {hostile: "other"}, None) is False
    plan = plan_for(flag)
    assert plan.run is not None
    assert plan.run("u", {hostile: hostile}) == hostile


def test_a_flag_with_a_malformed_condition_keeps_the_interpreted_walk() -> None:
    flag = parse_flag({"key": "f", "active": True, "filters": {"groups": [{"properties": "nope"}]}})
    function = conditions_of(flag)
    assert function.__class__.__name__ == "partial"
    assert conditions_of(flag) is function  # made once, kept on the definition
    with pytest.raises(Exception, match="not a list"):
        function("u", {}, None)


def test_fetched_definitions_are_compiled_before_they_serve(
    fake_server: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    """The poller compiles a new snapshot's flags, so the first flag calls do not pay for it."""
    flags = [
        FlagBuilder("pro", flag_id=1).condition([prop("plan", "pro")], rollout=50).build(),
        FlagBuilder("beta", flag_id=2).condition([prop("version", "1.2.0", "semver_gte")]).build(),
    ]
    fake_server.personal_api_key = "phx_personal"
    fake_server.set_flag_definitions(definitions(flags))
    client = make_client(personal_api_key="phx_personal")
    assert client.wait_for_flags(5)
    snapshot = client._flags.source.current()
    assert snapshot is not None
    for flag in snapshot.flags:
        assert flag.compiled.__class__.__name__ == "function", flag.key
        assert flag.newer_plan is not None and flag.newer_plan.run is not None, flag.key  # type: ignore[attr-defined]
    assert snapshot.all_flags.__class__.__name__ == "function"  # every flag, as one function
    local = {"only_evaluate_locally": True}
    assert client.get_feature_flag("beta", "u", person_properties={"version": "1.3.0"}, **local) is True
    assert client.get_feature_flag("beta", "u", person_properties={"version": "1.1.0"}, **local) is False


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_compiled_plans_with_cohorts_answer_as_the_general_pass(seed: int) -> None:
    """A flag with cohort filters gets a plan whose cohorts are built once; it answers as 7.x's
    general pass (``newer._Evaluation``) does."""
    cases = [case for case in _cases(seed, 3000) if case["cohorts"]]
    contexts = [_person(case) for case in cases]
    compared = with_cohorts = 0
    for index, case in enumerate(cases):
        snapshot = FlagDefinitions.parse(case["flags"], case["group_type_mapping"], case["cohorts"])
        flag = snapshot.flags[0]
        if not flag.plain or flag.group_type_key is not None:
            continue
        plan = plan_for(flag, snapshot.cohort_table)
        cohort_filters = any(type(leaf) is CohortFilter for c in flag.conditions for leaf in c.properties)
        if plan.run is None:
            continue
        with_cohorts += cohort_filters
        for bucketing, properties in [(case["distinct_id"], contexts[index]), (7, contexts[index - 1])]:

            def general() -> Any:
                evaluation = newer._Evaluation(snapshot, bucketing, {}, properties, {})  # noqa: B023
                evaluation.memo[flag.key] = newer._IN_PROGRESS  # noqa: B023
                try:
                    value = evaluation.evaluate(flag)  # noqa: B023
                except newer._GiveUp:
                    return None
                return None if value is newer.UNDECIDED else value

            def compiled() -> Any:
                try:
                    return plan.run(bucketing, properties)  # type: ignore[misc]  # noqa: B023
                except Exception:
                    return None

            assert compiled() == general(), (flag.raw, case["cohorts"], properties)
            compared += 1
    assert with_cohorts > 40
    assert compared > 100


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_person_flags_two_passes_written_as_one_answer_as_the_two(seed: int) -> None:
    """``whole_of``: 3.25.0's compiled conditions, then (undecided, or raising) the compiled 7.x
    plan, an error in the second pass meaning undecided."""
    from posthog.feature_flags.properties import Undecided
    from posthog.feature_flags.whole_code import whole_of

    cases = _cases(seed, 800)
    contexts = [_person(case) for case in cases]
    compared = written = 0
    for index, case in enumerate(cases):
        snapshot = FlagDefinitions.parse(case["flags"], case["group_type_mapping"], case["cohorts"])
        flag = snapshot.flags[0]
        if not flag.plain_person:
            continue
        cohorts = snapshot.cohort_table
        whole = whole_of(flag, cohorts)
        if whole is None:
            continue  # not written as one: the callers run the two passes
        written += 1
        plan = plan_for(flag, cohorts)
        for bucketing, properties in [(case["distinct_id"], contexts[index]), (7, contexts[index - 1])]:

            def two() -> Any:
                try:
                    first = conditions_of(flag)(bucketing, properties, cohorts)  # noqa: B023
                except Exception:  # 3.25.0's rules raising: 7.x's pass (the error logged)
                    first = Undecided.MISSING_PROPERTY
                if type(first) is not Undecided:
                    return first
                try:
                    return plan.run(bucketing, properties)  # type: ignore[misc]  # noqa: B023
                except Exception:
                    return None

            filed = _outcome(lambda: _filed(whole, flag, bucketing, properties, cohorts))  # noqa: B023
            assert filed == _outcome(two)
            compared += 1
    assert written > 300 and compared > 600


def test_an_error_in_the_7x_pass_of_the_whole_function_leaves_the_flag_undecided() -> None:
    """3.25.0's rules undecided (a property not given), then a 7.x test that raises: undecided,
    as 7.x's callers treat an error; an error in 3.25.0's rules reaches the caller."""
    from posthog.feature_flags.newer_plan import Plan
    from posthog.feature_flags.whole_code import whole_of

    def raising(value: Any) -> Any:
        raise TypeError("incomparable")

    flag = parse_flag(
        {"key": "f", "active": True, "filters": {"groups": [{"properties": [prop("plan", "pro")]}]}}
    )
    # the plan 7.x would run: one condition whose only filter reads "seen" and raises
    conditions = (((("seen", raising),), None, None),)
    object.__setattr__(flag, "newer_plan", Plan(conditions, None, None))  # type: ignore[arg-type]
    whole = whole_of(flag, {})
    assert whole is not None  # written as one function
    assert _filed(whole, flag, "u", {"seen": 1}, {}) is None
    assert _filed(whole, flag, "u", {"plan": "pro"}, {}) is True  # 3.25.0 decides: 7.x is not asked
    assert _filed(whole, flag, "u", {"plan": "free"}, {}) is False


@pytest.mark.parametrize("operator", ["is_date_before", "is_date_after"])
@pytest.mark.parametrize("operand", ["2024-06-01", "-30d", "9999y"])
def test_compiled_date_filters_answer_as_match_conditions_on_text_values(operator: str, operand: str) -> None:
    """The written-out date comparison: a date, a text that is not one, an offset of 24 h or
    more (dateutil reads it; comparing it raises ValueError: undecided), values that are neither
    text nor dates (undecided, for a reason that depends on the filter's own date: "9999y" is out
    of range), dates and datetimes."""
    flag = parse_flag(
        {
            "key": "dated",
            "active": True,
            "filters": {
                "groups": [{"properties": [prop("signup", operand, operator)], "rollout_percentage": 100}]
            },
        }
    )
    function = conditions_of(flag)
    assert function.__class__.__name__ == "function"
    values: list[Any] = ["2023-01-01", "2030-01-01T00:00:00Z", "not a date", "2024-01-01 10:00 +2500"]
    values += [7, 2.5, True, [1], {"a": 1}, None, date(2024, 1, 1), datetime(2030, 1, 1, tzinfo=timezone.utc)]
    for value in values:
        properties = {"signup": value}
        ours = _outcome(lambda: function("u", properties, None))  # noqa: B023
        assert ours == _outcome(lambda: match_conditions(flag, "u", properties, None)), value  # noqa: B023
    unusable = Undecided.INVALID_DATE if operand == "9999y" else Undecided.INVALID_DATE_PROPERTY
    assert function("u", {"signup": "2024-01-01 10:00 +2500"}, None) is unusable
    assert function("u", {"signup": 7}, None) is (
        Undecided.INVALID_DATE if operand == "9999y" else Undecided.UNSUPPORTED_DATE_PROPERTY
    )
