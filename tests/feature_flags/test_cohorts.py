"""Cohort filters and property groups (flags.md §5), including cycle detection (weaknesses §43)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from posthog.feature_flags import FlagDefinitions, Inconclusive
from tests.support.builders import FlagBuilder, cohort, evaluate, prop, property_group

# flags.md §5 "Verified": OR of (plan = pro AND age >= 18) and (email contains @posthog.com)
NESTED = property_group(
    "OR",
    property_group("AND", prop("plan", "pro"), prop("age", 18, "gte")),
    property_group("OR", prop("email", "@posthog.com", "icontains")),
)
NEGATED = property_group("AND", cohort(1), prop("country", "US", negation=True))


def with_cohort(cohort_id: Any = 1) -> dict[str, Any]:
    return FlagBuilder("cohort-flag").condition([cohort(cohort_id)]).build()


def run(cohorts: dict[str, Any], person: dict[str, Any], flag: dict[str, Any] | None = None) -> Any:
    result = evaluate(flag or with_cohort(), person_properties=person, cohorts=cohorts)
    return "inconclusive" if isinstance(result, Inconclusive) else result


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ({"plan": "pro", "age": 20}, True),
        ({"email": "x@PostHog.com"}, True),
        ({"plan": "free", "email": "x@y.com"}, False),
        ({"plan": "pro", "age": 17, "email": "x@y.com"}, False),
        # AND child inconclusive (age missing), OR child false: inconclusive overall
        ({"plan": "pro", "email": "x@y.com"}, "inconclusive"),
        # an inconclusive child is remembered, a later matching child still wins
        ({"plan": "pro", "email": "x@posthog.com"}, True),
    ],
    ids=[
        "§5 verified: AND child matches",
        "§5 verified: OR child matches, case-insensitive",
        "§5 verified: no child matches",
        "§5 AND child fails on one leaf",
        "§5 inconclusive child and no match",
        "§5 inconclusive child then a match",
    ],
)
def test_nested_groups(person: dict[str, Any], expected: Any) -> None:
    assert run({"1": NESTED}, person) == expected


@pytest.mark.parametrize(
    ("person", "expected"),
    [({"country": "FR"}, True), ({"country": "US"}, False), ({}, "inconclusive")],
    ids=[
        "§5 verified: negated leaf, other country",
        "§5 verified: negated leaf matches",
        "§5 negation never rescues",
    ],
)
def test_negation_on_leaves(person: dict[str, Any], expected: Any) -> None:
    cohorts = {"1": property_group("OR", prop("plan", None, "is_set")), "2": NEGATED}
    assert run(cohorts, {"plan": "x", **person}, with_cohort(2)) == expected


@pytest.mark.parametrize(
    ("group", "person", "expected"),
    [
        (property_group("OR", prop("a", "1", negation=True), prop("b", "1")), {"a": "2", "b": "0"}, True),
        (property_group("OR", prop("a", "1", negation=True)), {"a": "1"}, False),
        (property_group("AND", prop("a", "1", negation=True)), {"a": "2"}, True),
        (property_group("AND", prop("a", "1", negation="false")), {"a": "1"}, False),
        (property_group("AND", prop("a", "1"), prop("missing", "1")), {"a": "1"}, "inconclusive"),
        (property_group("AND", prop("missing", "1"), prop("a", "2")), {"a": "1"}, False),
        (property_group("OR", prop("missing", "1"), prop("a", "1")), {"a": "1"}, True),
        (property_group(None, prop("a", "x"), prop("a", "1")), {"a": "1"}, True),
        (property_group("and", prop("a", "x"), prop("a", "1")), {"a": "1"}, True),
        (property_group("AND"), {}, True),
        (property_group("OR", property_group("AND"), prop("a", "no")), {"a": "1"}, True),
    ],
    ids=[
        "§5 OR: negated non-match holds",
        "§5 OR: negated match fails",
        "§5 AND: negated non-match holds",
        "§5 negation is truthiness ('false' is truthy)",
        "§5 AND: inconclusive leaf, rest true",
        "§5 AND: false leaf decides after an inconclusive one",
        "§5 OR: true leaf decides after an inconclusive one",
        "§5 missing type means OR",
        "§5 lowercase 'and' means OR",
        "§5 empty values match",
        "§5 first element with values means nested",
    ],
)
def test_group_rules(group: dict[str, Any], person: dict[str, Any], expected: Any) -> None:
    assert run({"1": group}, person) == expected


@pytest.mark.parametrize(
    ("cohorts", "value", "expected"),
    [
        ({"1": property_group("AND", prop("a", "1"))}, "1", True),
        ({"1": property_group("AND", prop("a", "1"))}, 1.0, "inconclusive"),
        ({"1": property_group("AND", prop("a", "1"))}, 99, "inconclusive"),
        ({"1": None}, 1, True),
        ({"1": {}}, 1, True),
        ({"None": property_group("AND", prop("a", "1"))}, None, True),
    ],
    ids=[
        "§5 id compared as str()",
        "§5 1.0 is not '1'",
        "§5 unknown id (static cohort) is inconclusive",
        "§5 null cohort matches",
        "§5 empty cohort matches",
        "§5 null id is 'None'",
    ],
)
def test_cohort_ids(cohorts: dict[str, Any], value: Any, expected: Any) -> None:
    assert run(cohorts, {"a": "1"}, with_cohort(value)) == expected


def test_cohort_references_other_cohorts() -> None:
    cohorts = {
        "1": property_group("AND", prop("plan", "pro")),
        "2": property_group("OR", cohort(1), prop("vip", True)),
        "3": property_group("AND", cohort(2), cohort(1, negation=True)),
    }
    assert run(cohorts, {"plan": "pro"}, with_cohort(2)) is True
    assert run(cohorts, {"plan": "free", "vip": "true"}, with_cohort(2)) is True
    assert run(cohorts, {"plan": "free", "vip": False}, with_cohort(2)) is False
    assert run(cohorts, {"plan": "free", "vip": True}, with_cohort(3)) is True
    assert run(cohorts, {"plan": "pro"}, with_cohort(3)) is False


@pytest.mark.parametrize(
    "cohorts",
    [
        {"1": property_group("OR", cohort(1), prop("a", "1"))},
        {"1": property_group("AND", cohort(2)), "2": property_group("AND", cohort(1))},
        {
            "1": property_group("OR", property_group("AND", cohort(2))),
            "2": property_group("OR", cohort(3)),
            "3": property_group("OR", cohort(1)),
        },
    ],
    ids=["weaknesses §43 self reference", "§43 two cohorts", "§43 three cohorts, nested groups"],
)
def test_cycles_make_the_flag_inconclusive_without_recursion_error(
    cohorts: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    limit = sys.getrecursionlimit()
    with caplog.at_level(logging.DEBUG, logger="posthog"):
        result = evaluate(with_cohort(), person_properties={"a": "1"}, cohorts=cohorts)
    assert isinstance(result, Inconclusive)
    assert "refers to itself" in result.reason
    assert sys.getrecursionlimit() == limit
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_cycle_that_is_never_reached_does_not_matter() -> None:
    # 3.x short-circuits before recursing; so do we (same result as the reference).
    cohorts = {"1": property_group("OR", prop("a", "1"), cohort(1))}
    assert run(cohorts, {"a": "1"}) is True


def test_cycle_aborts_the_flag_like_3x_even_if_a_later_condition_matches() -> None:
    # 3.x raises RecursionError, which aborts the flag; a cycle is inconclusive, not "no match".
    cohorts = {"1": property_group("AND", cohort(1))}
    flag = FlagBuilder("cycle").condition([cohort(1)]).condition([]).build()
    assert isinstance(evaluate(flag, cohorts=cohorts), Inconclusive)


def test_cohort_filter_on_group_flag_is_decided_on_the_groups_properties_as_7x_does() -> None:
    # flags.md §3 step 3: 3.25.0 evaluates group flags with no cohorts (inconclusive); 7.x reads
    # the cohort with the group's properties, and where 3.25.0 gives up, 7.x's answer is ours.
    flag = FlagBuilder("group-cohort").group(0).condition([cohort(1)]).build()
    options: dict[str, Any] = {
        "groups": {"company": "acme"},
        "group_type_mapping": {"0": "company"},
        "cohorts": {"1": property_group("AND", prop("a", "1"))},
    }
    assert evaluate(flag, group_properties={"company": {"a": "1"}}, **options) is True
    assert evaluate(flag, group_properties={"company": {"a": "2"}}, **options) is False
    result = evaluate(flag, group_properties={"company": {}}, **options)
    assert isinstance(result, Inconclusive)
    assert "group flags" in result.reason  # neither decides: 3.25.0's reason stays


def test_condition_level_negation_is_ignored() -> None:
    # flags.md §5: negation applies to leaves of cohort groups only.
    flag = FlagBuilder("neg").condition([cohort(1, negation=True), prop("a", "1", negation=True)]).build()
    assert run({"1": property_group("AND", prop("a", "1"))}, {"a": "1"}, flag) is True


def test_cycles_are_reported_once_when_parsed(caplog: pytest.LogCaptureFixture) -> None:
    cohorts = {
        "71": property_group("AND", cohort(72)),
        "72": property_group("OR", property_group("AND", cohort(71))),
        "73": property_group("AND", cohort(71)),  # leads into the cycle, is not part of it
    }
    with caplog.at_level(logging.WARNING, logger="posthog"):
        FlagDefinitions.parse([], None, cohorts)
        FlagDefinitions.parse([], None, cohorts)
    reported = [r.getMessage() for r in caplog.records if "refers to itself" in r.getMessage()]
    assert len(reported) == 2
    assert "cohort 71" in reported[0] and "cohort 72" in reported[1]
