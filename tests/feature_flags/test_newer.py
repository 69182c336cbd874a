"""What 7.x decides locally where 3.25.0 asks the server (issue 24; spec flags.md, last section).

The rule: where 3.25.0's local evaluation decides, its answer stands; where it gives up and 7.x
decides, 7.x's answer (learnt black-box from posthog 7.91.1: benchmarks/compare_flags_v7.py);
where both give up, inconclusive. Each expectation below was checked against 7.91.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from posthog.feature_flags import is_inconclusive
from posthog.feature_flags.semver import parse_version
from tests.support.builders import FlagBuilder, cohort, evaluate, prop, property_group

REPO = Path(__file__).resolve().parents[2]
UNDECIDED = "inconclusive"


def value_of(flag: dict[str, Any], distinct_id: Any = "user-1", **kwargs: Any) -> Any:
    result = evaluate(flag, distinct_id, **kwargs)
    return UNDECIDED if is_inconclusive(result) else result


def one(operator: str, operand: Any, value: Any) -> Any:
    """A flag with one condition holding one filter, for a person with ``p = value``."""
    flag = FlagBuilder("f").condition([prop("p", operand, operator)]).build()
    return value_of(flag, person_properties={"p": value})


def depends(key: str, value: Any, chain: Any = None) -> dict[str, Any]:
    """A flag-dependency filter as the server writes it (chain None: no chain field)."""
    flt: dict[str, Any] = {"key": key, "type": "flag", "operator": "flag_evaluates_to", "value": value}
    if chain is not None:
        flt["dependency_chain"] = chain
    return flt


# --- semver -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("1.2.3", (1, 2, 3)),
        (" v1.2.3 ", (1, 2, 3)),
        ("V1.2", (1, 2, 0)),
        ("1", (1, 0, 0)),
        ("1..2", (1, 0, 2)),  # an empty part is 0
        ("1.2.3.4", (1, 2, 3)),  # parts after the third are ignored
        ("1.2.3-beta.1+build", (1, 2, 3)),
        ("01.2.3", None),  # leading zero
        (".1", None),
        ("1.2.x", None),
        ("abc", None),
        ("", None),
        (1.2, (1, 2, 0)),
        (True, None),
    ],
)
def test_versions_are_read_as_7x_reads_them(text: Any, version: Any) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize(
    ("operator", "operand", "value", "expected"),
    [
        ("semver_eq", "1.2.3", "v1.2.3", True),
        ("semver_eq", "1.2", "1.2.0", True),
        ("semver_neq", "1.2.3", "1.2.4", True),
        ("semver_gt", "1.2.3", "1.10.0", True),  # numbers, not text
        ("semver_lte", "1.2.3", "1.2.3-rc1", True),  # the prerelease is ignored
        ("semver_tilde", "1.2.3", "1.2.9", True),
        ("semver_tilde", "1.2.3", "1.3.0", False),
        ("semver_caret", "1.2.3", "1.9.0", True),
        ("semver_caret", "0.2.3", "0.3.0", False),
        ("semver_caret", "0.0.3", "0.0.4", False),
        ("semver_wildcard", "1.2.*", "1.2.7", True),
        ("semver_wildcard", "1.*", "2.0.0", False),
        ("semver_wildcard", "*", "1.0.0", UNDECIDED),
        ("semver_wildcard", "1..2", "1.2.3", True),  # empty parts are left out: "1.2"
        ("semver_wildcard", "1...2", "1.0.0", False),
        ("semver_wildcard", ".2.3", "2.3.1", True),
        ("semver_wildcard", "1.2.3-alpha", "1.2.3", UNDECIDED),
        ("semver_gt", "1.0.0", "abc", UNDECIDED),  # not a version: the server decides
        ("semver_gt", "abc", "2.0.0", UNDECIDED),
        ("semver_gt", "1.0.0", None, False),
    ],
)
def test_semver_operators(operator: str, operand: Any, value: Any, expected: Any) -> None:
    assert one(operator, operand, value) == expected


# --- affixes, is_not_set, 7.x's reading of 3.x operators ---------------------------------------


@pytest.mark.parametrize(
    ("operator", "operand", "value", "expected"),
    [
        ("starts_with", "ab", "ABc", True),
        ("ends_with", "com", "x@posthog.COM", True),
        ("not_starts_with", "ab", "xab", True),
        ("not_ends_with", "ab", "xab", False),
        ("starts_with", "ß", "SSx", False),  # lower-cased, not case-folded
        ("starts_with", "nu", None, False),  # 3.25.0 decides a null property: no match
        ("starts_with", "in", float("inf"), UNDECIDED),  # JSON cannot spell it
        ("is_not_set", "x", "present", False),  # 3.25.0 cannot tell; it is set
    ],
)
def test_affixes_and_is_not_set(operator: str, operand: Any, value: Any, expected: Any) -> None:
    assert one(operator, operand, value) == expected
    assert value_of(FlagBuilder("f").condition([prop("p", operand, operator)]).build()) == UNDECIDED


def test_is_not_set_on_a_missing_property_stays_inconclusive() -> None:
    assert value_of(FlagBuilder("f").condition([prop("p", "x", "is_not_set")]).build()) == UNDECIDED


def test_3x_operators_are_read_as_7x_reads_them_only_where_3x_gives_up() -> None:
    # One filter 3.25.0 cannot decide (starts_with) beside a 3.x filter 3.25.0 and 7.x read
    # differently: straße equals STRASSE for 3.25.0 (case-folded), not for 7.x (lower-cased).
    both = [prop("p", "straße"), prop("q", "a", "starts_with")]
    flag = FlagBuilder("f").condition(both).build()
    assert value_of(flag, person_properties={"p": "STRASSE", "q": "abc"}) is False
    assert value_of(
        FlagBuilder("f").condition([prop("p", "straße")]).build(), person_properties={"p": "STRASSE"}
    )


def test_a_later_filter_that_fails_decides_the_condition() -> None:
    # 3.25.0 stops at the first filter it cannot decide; 7.x checks every filter.
    flag = FlagBuilder("f").condition([prop("missing", 1), prop("p", "no")]).build()
    assert value_of(flag, person_properties={"p": "yes"}) is False
    flag = FlagBuilder("f").condition([prop("missing", 1), prop("p", "yes")]).build()
    assert value_of(flag, person_properties={"p": "yes"}) == UNDECIDED


def test_what_3x_decides_stands() -> None:
    # 3.25.0 decides True (second condition) where 7.x would give up on the unknown cohort.
    flag = FlagBuilder("f").condition([cohort(99)]).condition().build()
    assert value_of(flag) is True


# --- flag dependencies -------------------------------------------------------------------------


def test_dependencies_boolean_variant_and_negation() -> None:
    on = FlagBuilder("on").condition().build()
    off = FlagBuilder("off").condition(rollout=0).build()
    variant = FlagBuilder("colour").condition().variants(("blue", 100)).build()
    others = [on, off, variant]

    def check(filters: list[dict[str, Any]]) -> Any:
        return value_of(FlagBuilder("f").condition(filters).build(), others=others)

    assert check([depends("on", True, ["on"])]) is True
    assert check([depends("off", True, ["off"])]) is False
    assert check([depends("off", False, ["off"])]) is True  # negation: value false
    assert check([depends("colour", "blue", ["colour"])]) is True
    assert check([depends("colour", True, ["colour"])]) is True  # true: any enabled value
    assert check([depends("colour", "BLUE", ["colour"])]) is False  # case-sensitive
    assert check([depends("on", True, ["colour", "on"])]) is True  # a chain


def test_dependencies_on_missing_inactive_and_cyclic_flags() -> None:
    inactive = FlagBuilder("inactive").inactive().condition().build()
    on = FlagBuilder("on").condition().build()

    def check(filters: list[dict[str, Any]], key: str = "f") -> Any:
        return value_of(FlagBuilder(key).condition(filters).build(), others=[inactive, on])

    assert check([depends("inactive", False, ["inactive"])]) is True  # inactive counts as false
    assert check([depends("deleted", True, ["deleted"])]) == UNDECIDED
    assert check([depends("on", True, [])]) == UNDECIDED  # an empty chain: a cycle
    assert check([depends("on", True)]) == UNDECIDED  # no chain written
    assert check([depends("f", True, ["f"])]) == UNDECIDED  # itself: never recurses
    assert check([depends("on", "x", ["on"]), depends("deleted", True, ["deleted"])]) is False
    assert check([{"key": "on", "type": "flag", "operator": "exact", "value": True}]) is False  # malformed


def test_a_group_flags_dependencies_are_evaluated_for_the_group() -> None:
    # 7.x evaluates a group flag's person-flag dependencies with the group's key and properties.
    plan = FlagBuilder("pro-plan").condition([prop("plan", "pro")]).build()
    flag = FlagBuilder("g").group(0).condition([depends("pro-plan", True, ["pro-plan"])]).build()
    options: dict[str, Any] = {"groups": {"company": "acme"}, "group_type_mapping": {"0": "company"}}
    assert value_of(flag, group_properties={"company": {"plan": "pro"}}, others=[plan], **options) is True
    assert value_of(flag, group_properties={"company": {"plan": "free"}}, others=[plan], **options) is False


def test_the_quirk_is_not_copied() -> None:
    # 7.91.1 remembers an undecided chain flag as "no value" and a later filter skips it (here:
    # True in the second condition); we give up consistently (spec flags.md, "Quirk, not to copy").
    undecided = FlagBuilder("u").condition([prop("m", 1)]).build()
    on = FlagBuilder("x").condition().build()
    filters = [depends("x", True, ["u", "x"])]
    flag = FlagBuilder("f").condition(filters).condition(filters).build()
    assert value_of(flag, others=[undecided, on]) == UNDECIDED


def test_cohort_groups_7x_cannot_read_and_unknown_cohorts() -> None:
    lowercase = {"1": property_group("and", prop("p", "x", "starts_with"))}
    flag = FlagBuilder("f").condition([cohort(1)]).build()
    assert value_of(flag, cohorts=lowercase, person_properties={"p": "xy"}) == UNDECIDED
    typed = {"1": property_group("AND", prop("p", "x", "starts_with"))}
    assert value_of(flag, cohorts=typed, person_properties={"p": "xy"}) is True
    unknown_then_false = FlagBuilder("f").condition([cohort(99), prop("p", "x", "ends_with")]).build()
    assert value_of(unknown_then_false, person_properties={"p": "xy"}) is False


def test_a_cohort_referring_to_one_7x_cannot_use_is_inconclusive_at_any_depth() -> None:
    # 7.x resolves every cohort a cohort refers to before it looks at a property: an unknown
    # one, or one with a group neither AND nor OR, anywhere below, and it gives up (even though
    # the AND fails at its first filter here).
    flag = FlagBuilder("f").condition([cohort(1)]).build()
    person = {"name": "someone", "p": "xy"}
    for second in (
        property_group("OR", cohort(9)),  # refers to a cohort it does not have
        property_group("OR", cohort(3)),  # refers to one 7.x cannot read
    ):
        cohorts = {
            "1": property_group("AND", prop("name", None, "is_not_set"), cohort(2)),
            "2": second,
            "3": property_group("and", prop("p", "x", "starts_with")),
        }
        assert value_of(flag, cohorts=cohorts, person_properties=person) == UNDECIDED
    usable = {
        "1": property_group("AND", prop("name", None, "is_not_set"), cohort(2)),
        "2": property_group("OR", prop("p", "x", "starts_with")),
    }
    assert value_of(flag, cohorts=usable, person_properties=person) is False


def test_a_value_json_cannot_spell_is_undecided_for_exact_is_not_and_regexes() -> None:
    # 3.25.0 gives up on the flag (the first condition compares a list with a number); in the
    # second, 7.x spells the value first: inf is no JSON, so the filter is undecided, also when
    # the operand is a truth value or the pattern is broken.
    for operator, operand, for_a_number in (
        ("is_not", "True", True),
        ("exact", ["x"], False),
        ("not_regex", "[", False),
    ):
        flag = (
            FlagBuilder("f").condition([prop("n", 1, "gt")]).condition([prop("p", operand, operator)]).build()
        )
        assert value_of(flag, person_properties={"n": [1], "p": float("inf")}) == UNDECIDED
        # 1.5 is not true; "1.5" is not "x"; a broken pattern never matches
        assert value_of(flag, person_properties={"n": [1], "p": 1.5}) is for_a_number


def test_an_empty_object_is_an_empty_cohort_group_for_7x() -> None:
    flag = FlagBuilder("f").condition([prop("n", 1, "gt"), cohort(1)]).condition([cohort(2)]).build()
    person = {"n": [1]}  # 3.25.0 gives up on the first condition
    assert value_of(flag, cohorts={"1": {}, "2": {}}, person_properties=person) is True
    no_values = {"1": {}, "2": {"type": "AND"}}  # 7.x wants a "values" list, even an empty one
    assert value_of(flag, cohorts=no_values, person_properties=person) == UNDECIDED


def test_a_filter_with_an_unusable_key_and_an_operator_7x_does_not_know_is_only_undecided() -> None:
    # 7.x checks the operator before it reads the key: an unknown one leaves the filter
    # undecided, so a later filter that fails still decides the condition; a known one reads
    # the (unhashable) key and gives up on the flag.
    unknown = {"key": [], "value": "x", "type": "person", "operator": "in"}
    known = {**unknown, "operator": "exact"}
    person = {"n": [1], "p": "y"}  # 3.25.0 gives up on the first condition (list > number)
    for malformed, expected in ((unknown, False), (known, UNDECIDED)):
        flag = FlagBuilder("f").condition([prop("n", 1, "gt")]).condition([malformed, prop("p", "x")]).build()
        assert value_of(flag, person_properties=person) == expected


def test_a_condition_that_is_not_an_object_counts_only_when_7x_reaches_it() -> None:
    matches_first = FlagBuilder("f").condition().build()
    matches_first["filters"]["groups"].append("not a condition")
    assert value_of(matches_first) is True  # 3.25.0 gives up on the whole flag
    broken_first = FlagBuilder("f").condition().build()
    broken_first["filters"]["groups"].insert(0, ["not a condition"])
    assert value_of(broken_first) == UNDECIDED


# --- the three-way check ------------------------------------------------------------------------


@pytest.mark.skipif(
    not (REPO / ".venv-ref" / "bin" / "python").exists()
    or not (REPO / ".venv-v7" / "bin" / "python").exists(),
    reason="needs .venv-ref (make ref-venv) and .venv-v7 (make v7-venv)",
)
@pytest.mark.parametrize("seed", [1, 2, 3, 5, 6])
def test_the_differential_generator_agrees_with_the_three_way_rule(seed: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "compare_flags_v7.py"),
            "--n",
            "2000",
            "--seed",
            str(seed),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "disagreements: 0;" in done.stdout
