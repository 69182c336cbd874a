"""Parsing the local-evaluation JSON into a snapshot: never raises, malformed flags stay isolated."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from posthog.feature_flags import EMPTY_DEFINITIONS, FlagDefinitions, Inconclusive, evaluate_flag
from tests.support.builders import FlagBuilder, cohort, definitions, evaluate, prop, property_group

UNDECIDED = "inconclusive"
HEALTHY = FlagBuilder("healthy").condition([prop("plan", "pro")]).build()


def malformed(path: str, value: Any, *, conditions: int = 1, rollout: Any = 100) -> dict[str, Any]:
    builder = FlagBuilder("broken")
    for _ in range(conditions):
        builder.condition([], rollout=rollout)
    return builder.set(path, value).build()


BAD_VARIANTS = FlagBuilder("broken").variants({"key": "a"})
NO_KEY_VARIANTS = FlagBuilder("broken").variants({"rollout_percentage": 100})

# (id, flag, person properties, cohorts, expected) — each expected value is what 3.25.0 returns.
MALFORMED: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], Any]] = [
    ("§2 null filters read as empty", malformed("filters", None), {}, {}, False),
    ("§2 null groups read as empty", malformed("filters.groups", None), {}, {}, False),
    ("§2 null properties read as empty", malformed("filters.groups", [{"properties": None}]), {}, {}, True),
    ("§2 null multivariate", malformed("filters.multivariate", None), {}, {}, True),
    ("§2 null variants", malformed("filters.multivariate", {"variants": None}), {}, {}, True),
    ("filters is a string", malformed("filters", "abc"), {}, {}, UNDECIDED),
    ("filters is a list", malformed("filters", [1]), {}, {}, UNDECIDED),
    ("groups is an object", malformed("filters.groups", {"a": 1}), {}, {}, UNDECIDED),
    ("groups is a string", malformed("filters.groups", "ab"), {}, {}, UNDECIDED),
    ("a condition is null", malformed("filters.groups", [None]), {}, {}, UNDECIDED),
    ("properties is a string", malformed("filters.groups", [{"properties": "ab"}]), {}, {}, UNDECIDED),
    ("properties is a number", malformed("filters.groups", [{"properties": 5}]), {}, {}, UNDECIDED),
    ("properties is 0 (falsy)", malformed("filters.groups", [{"properties": 0}]), {}, {}, True),
    ("a property is a string", malformed("filters.groups", [{"properties": ["a"]}]), {}, {}, UNDECIDED),
    (
        "a property key is a list",
        malformed("filters.groups", [{"properties": [prop(["a"], 1)]}]),
        {},
        {},
        UNDECIDED,
    ),
    (
        "a property has no key",
        malformed("filters.groups", [{"properties": [{"value": 1}]}]),
        {},
        {},
        UNDECIDED,
    ),
    ("rollout is a string", malformed("filters.groups", [{"rollout_percentage": "50"}]), {}, {}, UNDECIDED),
    (
        "rollout is a string, properties fail first",
        malformed("filters.groups", [{"properties": [prop("plan", "x")], "rollout_percentage": "50"}]),
        {"plan": "y"},
        {},
        False,
    ),
    ("multivariate is a string", malformed("filters.multivariate", "x"), {}, {}, UNDECIDED),
    ("variants is an object", malformed("filters.multivariate", {"variants": {"a": 1}}), {}, {}, UNDECIDED),
    ("variant without key, no match", NO_KEY_VARIANTS.condition(rollout=0).build(), {}, {}, UNDECIDED),
    ("variant without rollout, match", BAD_VARIANTS.condition().build(), {}, {}, UNDECIDED),
    (
        "variant without rollout, no match",
        FlagBuilder("broken").variants({"key": "a"}).condition(rollout=0).build(),
        {},
        {},
        False,
    ),
    (
        "variant with string rollout, no match",
        FlagBuilder("broken").variants(("a", "5")).condition(rollout=0).build(),
        {},
        {},
        False,
    ),
    (
        "§4 invalid regex is no match",
        malformed("filters.groups", [{"properties": [prop("a", "(", "regex")]}]),
        {"a": "("},
        {},
        False,
    ),
    (
        "regex 3.x cannot compile",
        malformed("filters.groups", [{"properties": [prop("a", "a{99999999999}", "regex")]}]),
        {"a": "x"},
        {},
        UNDECIDED,
    ),
    (
        "regex 3.x cannot compile, key missing",
        malformed("filters.groups", [{"properties": [prop("a", "a{99999999999}", "regex")]}, {}]),
        {},
        {},
        True,
    ),
    (
        "§4 unparsable date",
        malformed("filters.groups", [{"properties": [prop("d", "notadate", "is_date_after")]}]),
        {"d": "2024-01-01"},
        {},
        UNDECIDED,
    ),
    (
        "cohort values is a string",
        malformed("filters.groups", [{"properties": [cohort(1)]}]),
        {},
        {"1": {"type": "OR", "values": "abc"}},
        UNDECIDED,
    ),
    (
        "cohort leaf is a number",
        malformed("filters.groups", [{"properties": [cohort(1)]}]),
        {"a": "1"},
        {"1": property_group("OR", property_group("OR", prop("a", "2")), 5)},
        UNDECIDED,
    ),
    (
        "cyclic cohorts",
        malformed("filters.groups", [{"properties": [cohort(1)]}]),
        {},
        {"1": property_group("AND", cohort(2)), "2": property_group("OR", cohort(1))},
        UNDECIDED,
    ),
    ("group index is a list", malformed("filters.aggregation_group_type_index", [0]), {}, {}, UNDECIDED),
    ("payloads is a string", malformed("filters.payloads", "x"), {}, {}, True),
    ("continuity is a truthy string", malformed("ensure_experience_continuity", "false"), {}, {}, UNDECIDED),
]


@pytest.mark.parametrize(
    ("flag", "person", "cohorts", "expected"),
    [row[1:] for row in MALFORMED],
    ids=[row[0] for row in MALFORMED],
)
def test_malformed_flag_is_isolated(
    flag: dict[str, Any], person: dict[str, Any], cohorts: dict[str, Any], expected: Any
) -> None:
    result = evaluate(flag, person_properties=person, cohorts=cohorts, others=[HEALTHY])
    assert (UNDECIDED if isinstance(result, Inconclusive) else result) == expected
    # the healthy flag parsed in the same snapshot still evaluates
    assert evaluate(HEALTHY, person_properties={"plan": "PRO"}, cohorts=cohorts, others=[flag]) is True


def test_all_malformed_flags_in_one_snapshot() -> None:
    flags = [dict(row[1], key=f"broken-{i}") for i, row in enumerate(MALFORMED)]
    snapshot = FlagDefinitions.parse([*flags, "not a flag", None, 7, HEALTHY], {"0": "company"}, {"1": "bad"})
    assert len(snapshot.flags) == len(flags) + 1
    person = {"distinct_id": "u", "plan": "pro"}
    for flag in snapshot.flags:
        evaluate_flag(flag, snapshot, "u", {}, person, {})
    assert evaluate_flag(snapshot.by_key["healthy"], snapshot, "u", {}, person, {}) is True


@pytest.mark.parametrize(
    ("flags", "mapping", "cohorts"),
    [
        ({"not": "a list"}, None, None),
        ("flags", ["a"], "cohorts"),
        (5, 5, 5),
        ([None, [], "x"], {"0": 1, 1: "x"}, {"1": [], 2: {}}),
    ],
    ids=["flags is an object", "everything has the wrong type", "numbers", "wrong entries"],
)
def test_parse_never_raises_on_wrong_types(flags: Any, mapping: Any, cohorts: Any) -> None:
    snapshot = FlagDefinitions.parse(flags, mapping, cohorts)
    assert snapshot.flags == ()
    assert dict(snapshot.group_type_mapping) == {}


def test_malformed_flag_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    flag = malformed("filters", "logged-once-filters")
    flag["key"] = "logged-once-key"
    with caplog.at_level(logging.WARNING, logger="posthog"):
        FlagDefinitions.parse([flag])
        FlagDefinitions.parse([flag])
    messages = [r.getMessage() for r in caplog.records if "logged-once-key" in r.getMessage()]
    assert len(messages) == 1
    assert "filters is a str" in messages[0]


def test_from_response_requires_the_three_keys() -> None:
    with pytest.raises(ValueError, match="must be an object"):
        FlagDefinitions.from_response([])
    for missing in ("flags", "group_type_mapping", "cohorts"):
        body = definitions([HEALTHY])
        del body[missing]
        with pytest.raises(ValueError, match=missing):
            FlagDefinitions.from_response(body)


def test_from_response_reads_null_as_empty() -> None:
    snapshot = FlagDefinitions.from_response({"flags": None, "group_type_mapping": None, "cohorts": None})
    assert snapshot.flags == () and not snapshot.by_key and not snapshot.cohorts
    assert (snapshot.raw_flags, snapshot.raw_group_type_mapping, snapshot.raw_cohorts) == ([], {}, {})


def test_raw_parts_are_kept_as_received() -> None:
    body = definitions([HEALTHY, FlagBuilder("x").build()], {"0": "company"}, {"1": None})
    snapshot = FlagDefinitions.from_response(body)
    assert snapshot.raw_flags is body["flags"]
    assert snapshot.raw_group_type_mapping is body["group_type_mapping"]
    assert snapshot.raw_cohorts is body["cohorts"]
    assert [f.key for f in snapshot.flags] == ["healthy", "x"]


def test_by_key_keeps_the_last_duplicate_and_skips_missing_keys() -> None:
    first = FlagBuilder("dup").condition(rollout=0).build()
    last = FlagBuilder("dup").condition(rollout=100).build()
    keyless = FlagBuilder(None).condition().build()
    numeric = FlagBuilder(5).condition().build()
    snapshot = FlagDefinitions.parse([first, keyless, last, numeric])
    assert list(snapshot.by_key) == ["dup"]
    assert snapshot.by_key["dup"].raw is last
    assert [f.key for f in snapshot.flags] == ["dup", "None", "dup", "5"]


def test_group_type_mapping_keeps_text_entries() -> None:
    snapshot = FlagDefinitions.parse([], {"0": "company", "1": 7, "2": None, "3": "team"})
    assert dict(snapshot.group_type_mapping) == {"0": "company", "3": "team"}


def test_snapshot_is_immutable() -> None:
    snapshot = FlagDefinitions.parse([HEALTHY], {"0": "company"}, {"1": None})
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.flags = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.flags[0].active = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        snapshot.by_key["other"] = snapshot.flags[0]  # type: ignore[index]
    with pytest.raises(TypeError):
        snapshot.group_type_mapping["1"] = "x"  # type: ignore[index]


def test_conditions_are_sorted_with_overrides_first() -> None:
    flag = (
        FlagBuilder("sorted")
        .condition([prop("a", 1)])
        .condition([prop("a", 2)], variant="v")
        .condition([prop("a", 3)], variant="")
        .condition([prop("a", 4)], variant="w")
        .variants(("v", 50), ("w", 50))
        .build()
    )
    parsed = FlagDefinitions.parse([flag]).flags[0]
    assert [c.properties[0].value for c in parsed.conditions] == [2, 4, 1, 3]  # type: ignore[union-attr]
    assert parsed.variant_keys == frozenset({"v", "w"})


def test_empty_definitions() -> None:
    assert EMPTY_DEFINITIONS.flags == ()
    assert not EMPTY_DEFINITIONS.by_key and not EMPTY_DEFINITIONS.cohorts


_FUZZ_KEYS = [
    "key", "active", "filters", "groups", "properties", "rollout_percentage", "variant", "multivariate",
    "variants", "payloads", "aggregation_group_type_index", "type", "value", "operator", "negation",
    "values", "ensure_experience_continuity", "0", "1",
]  # fmt: skip
_FUZZ_LEAVES: list[Any] = [
    None, True, False, 0, 1, 50, 100, -1, 1.5, float("nan"), "", "x", "AND", "OR", "cohort", "exact", "regex",
    "gt", "is_date_before", "is_not_set", "(", "7d", "2024-01-01", "0", "1", [], {},
]  # fmt: skip


def _fuzz_value(rng: Any, depth: int) -> Any:
    roll = rng.random()
    if depth <= 0 or roll < 0.4:
        return rng.choice(_FUZZ_LEAVES)
    if roll < 0.7:
        return [_fuzz_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {rng.choice(_FUZZ_KEYS): _fuzz_value(rng, depth - 1) for _ in range(rng.randrange(6))}


def test_parse_and_evaluate_never_raise_on_random_json() -> None:
    import random

    rng = random.Random(20240101)
    for _ in range(1500):
        flags = [_fuzz_value(rng, 6) for _ in range(3)]
        flags.append({"key": "k", "active": True, "filters": _fuzz_value(rng, 6)})
        snapshot = FlagDefinitions.parse(flags, _fuzz_value(rng, 2), _fuzz_value(rng, 5))
        person = {"distinct_id": "u", "x": _fuzz_value(rng, 1), "0": rng.choice(_FUZZ_LEAVES)}
        groups = {"0": "g"}
        for flag in snapshot.flags:
            result = evaluate_flag(flag, snapshot, "u", groups, person, {"0": person})
            assert result is not None
