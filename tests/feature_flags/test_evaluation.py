"""Evaluating one flag (flags.md §3), property augmentation (§3 step 0) and payload lookup (§6)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from posthog.feature_flags import (
    FlagDefinitions,
    Inconclusive,
    augment_properties,
    evaluate_flag,
    hash_bucket,
    is_inconclusive,
    lookup_payload,
)
from tests.support.builders import FlagBuilder, evaluate, prop

UNDECIDED = "inconclusive"


def value_of(flag: dict[str, Any], distinct_id: Any = "user-1", **kwargs: Any) -> Any:
    result = evaluate(flag, distinct_id, **kwargs)
    return UNDECIDED if is_inconclusive(result) else result


# --- §3 step 0: augmentation ---------------------------------------------------------------------


def test_augmentation_adds_distinct_id_and_group_keys() -> None:
    person, groups = augment_properties(
        "u1",
        {"company": "acme", "project": 7},
        {"plan": "pro"},
        {"company": {"size": 10}, "other": {"x": 1}},
    )
    assert person == {"distinct_id": "u1", "plan": "pro"}
    # flags.md §3 step 0: groups not listed in `groups` are dropped.
    assert groups == {"company": {"$group_key": "acme", "size": 10}, "project": {"$group_key": 7}}


def test_augmentation_lets_the_caller_override_automatic_keys() -> None:
    person_in = {"distinct_id": "other"}
    group_in = {"company": {"$group_key": "mine"}}
    person, groups = augment_properties("u1", {"company": "acme"}, person_in, group_in)
    assert person == {"distinct_id": "other"}
    assert groups == {"company": {"$group_key": "mine"}}
    assert person_in == {"distinct_id": "other"} and group_in == {"company": {"$group_key": "mine"}}


def test_augmentation_accepts_none() -> None:
    assert augment_properties(3, {}, None, None) == ({"distinct_id": 3}, {})


def test_augmented_distinct_id_can_be_filtered_on() -> None:
    flag = FlagBuilder("by-id").condition([prop("distinct_id", ["u1", "u2"])]).build()
    assert value_of(flag, "U2") is True
    assert value_of(flag, "u3") is False


# --- §3 steps 1-4 --------------------------------------------------------------------------------


def test_continuity_is_inconclusive_unless_inactive() -> None:
    # flags.md §3 step 1: 3.25.0 checks it before `active` and asks the server; 7.x checks
    # `active` first, so an inactive flag is off (issue 24: where 3.x gives up, 7.x's answer).
    assert value_of(FlagBuilder("c").continuity().inactive().condition().build()) is False
    assert value_of(FlagBuilder("c").continuity().condition().build()) == UNDECIDED


def test_inactive_flag_is_false() -> None:
    # flags.md §3 step 2, even with an inconclusive condition.
    assert value_of(FlagBuilder("off").inactive().condition([prop("missing", 1)]).build()) is False


def test_missing_active_is_false_and_truthy_active_is_active() -> None:
    assert value_of(FlagBuilder("a").condition().set("active", None).build()) is False
    assert value_of(FlagBuilder("a").condition().set("active", "yes").build()) is True


def test_group_flag_with_unknown_group_type_is_inconclusive() -> None:
    flag = FlagBuilder("g").group(5).condition().build()
    result = evaluate(flag, groups={"company": "acme"}, group_type_mapping={"0": "company"})
    assert isinstance(result, Inconclusive)
    assert "group type index 5" in result.reason


def test_group_flag_without_its_group_is_false_locally() -> None:
    # flags.md §3 step 3: no remote fallback, the server would answer the same.
    flag = FlagBuilder("g").group(0).condition([prop("missing", 1)]).build()
    assert value_of(flag, groups={"project": "p"}, group_type_mapping={"0": "company"}) is False


def test_group_flag_buckets_by_group_key_and_reads_group_properties() -> None:
    flag = FlagBuilder("company-flag").group(0).condition([prop("plan", "enterprise")], rollout=95).build()
    kwargs: dict[str, Any] = {"group_type_mapping": {"0": "company"}, "groups": {"company": "acme-inc"}}
    # person properties are not read by a group flag
    assert value_of(flag, person_properties={"plan": "enterprise"}, **kwargs) == UNDECIDED
    assert value_of(flag, group_properties={"company": {"plan": "Enterprise"}}, **kwargs) is True
    # flags.md §2: company-flag.acme-inc hashes to 0.9455254048623735, above 0.94
    flag94 = FlagBuilder("company-flag").group(0).condition([prop("plan", "enterprise")], rollout=94).build()
    assert value_of(flag94, group_properties={"company": {"plan": "enterprise"}}, **kwargs) is False


def test_group_flag_index_is_looked_up_as_text() -> None:
    mapping = {"0": "company"}
    assert value_of(
        FlagBuilder("g").group("0").condition().build(), groups={"company": "c"}, group_type_mapping=mapping
    )
    assert (
        value_of(
            FlagBuilder("g").group(0.0).condition().build(),
            groups={"company": "c"},
            group_type_mapping=mapping,
        )
        == UNDECIDED
    )


def test_group_key_is_a_property_of_group_flags() -> None:
    flag = FlagBuilder("gk").group(0).condition([prop("$group_key", "acme")]).build()
    kwargs: dict[str, Any] = {"group_type_mapping": {"0": "company"}}
    assert value_of(flag, groups={"company": "ACME"}, **kwargs) is True
    assert value_of(flag, groups={"company": "other"}, **kwargs) is False


# --- conditions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "person", "expected"),
    [
        ([], {}, False),
        ([([], None)], {}, True),
        ([([], 0)], {}, False),
        ([([], 100)], {}, True),
        ([([prop("a", "x")], None)], {"a": "x"}, True),
        ([([prop("missing", 1), prop("a", "no")], 100)], {"a": "x"}, False),
        ([([prop("a", "no"), prop("missing", 1)], 100)], {"a": "x"}, False),
        ([([prop("missing", 1)], 100), ([prop("a", "x")], 100)], {"a": "x"}, True),
        ([([prop("missing", 1)], 100), ([prop("a", "no")], 100)], {"a": "x"}, UNDECIDED),
        ([([prop("a", "no")], 100), ([prop("a", "x")], 0)], {"a": "x"}, False),
    ],
    ids=[
        "§3 no conditions is False",
        "§3 null rollout matches",
        "§2 rollout 0 fails",
        "§2 rollout 100 passes",
        "§3 properties then null rollout",
        "§3 order: 3.x gives up at an inconclusive filter; 7.x sees the later one fail",
        "§3 order: false first is a non-match",
        "§3 inconclusive remembered, later match wins",
        "§3 inconclusive remembered, nothing matches",
        "§3 every condition fails",
    ],
)
def test_conditions(
    conditions: list[tuple[list[dict[str, Any]], Any]], person: dict[str, Any], expected: Any
) -> None:
    builder = FlagBuilder("conds")
    for properties, rollout in conditions:
        builder.condition(properties, rollout=rollout)
    assert value_of(builder.build(), person_properties=person) == expected


def test_rollout_compares_hash_with_percentage() -> None:
    # flags.md §11 example 1 / §2: hashes 0.6535 (user-123) and 0.4555 (user-7)
    flag = FlagBuilder("beta-feature").condition(rollout=50).build()
    assert value_of(flag, "user-123") is False
    assert value_of(flag, "user-7") is True
    assert value_of(FlagBuilder("beta-feature").condition(rollout=65.36).build(), "user-123") is True


def test_incomparable_property_3x_gives_up_on_the_flag_and_7x_decides() -> None:
    # flags.md §7: 3.25.0 handles the TypeError like inconclusive, for the whole flag; 7.x
    # compares numbers only (a list is no number: no match), so the next condition decides.
    flag = FlagBuilder("t").condition([prop("a", 10, "gt")]).condition().build()
    assert evaluate(flag, person_properties={"a": [1]}) is True
    assert evaluate(flag, person_properties={"a": 11}) is True


def test_unexpected_errors_are_logged_once_when_nothing_decides(caplog: pytest.LogCaptureFixture) -> None:
    # `gt` on a dict: a TypeError for 3.25.0; 7.x sees no match there, and nothing decides the
    # second condition (its property is not given).
    flag = FlagBuilder("logged-once-flag").condition([prop("a", 10, "gt")]).condition([prop("b", 1)]).build()
    with caplog.at_level(logging.ERROR, logger="posthog"):
        for _ in range(3):
            assert isinstance(evaluate(flag, person_properties={"a": {"b": 1}}), Inconclusive)
    errors = [r for r in caplog.records if "logged-once-flag" in r.getMessage()]
    assert len(errors) == 1
    decided = FlagBuilder("decided-flag").condition([prop("a", 10, "gt")]).build()
    with caplog.at_level(logging.ERROR, logger="posthog"):
        assert evaluate(decided, person_properties={"a": {"b": 1}}) is False  # 7.x decides: no log
    assert not [r for r in caplog.records if "decided-flag" in r.getMessage()]


# --- variants and overrides ------------------------------------------------------------------------

MULTI = ("first", 50), ("second", 20), ("third", 20), ("fourth", 5), ("fifth", 5)


def test_variant_is_picked_by_variant_hash() -> None:
    # flags.md §2: multivariate-flag.distinct_id_1variant → 0.6473 → [0.5, 0.7) → "second"
    flag = FlagBuilder("multivariate-flag").condition().variants(*MULTI).build()
    assert value_of(flag, "distinct_id_1") == "second"


def test_no_variant_when_percentages_fall_short() -> None:
    # flags.md §2 step 4: 0.6473 is above the only bound 0.5 → True
    flag = FlagBuilder("multivariate-flag").condition().variants(("first", 50)).build()
    assert value_of(flag, "distinct_id_1") is True


def test_falsy_variant_key_reads_as_true() -> None:
    flag = FlagBuilder("multivariate-flag").condition().variants(("", 100)).build()
    assert value_of(flag, "distinct_id_1") is True


@pytest.mark.parametrize(
    ("override", "expected"),
    [("third", "third"), ("unknown", "second"), ("", "second"), (None, "second")],
    ids=[
        "§3 valid override",
        "§3 unknown override hashes",
        "§3 empty override hashes",
        "§3 null override hashes",
    ],
)
def test_variant_override(override: Any, expected: str) -> None:
    flag = FlagBuilder("multivariate-flag").condition(variant=override).variants(*MULTI).build()
    assert value_of(flag, "distinct_id_1") == expected


def test_override_conditions_are_sorted_first_stably() -> None:
    flag = (
        FlagBuilder("multivariate-flag")
        .condition([])
        .condition([prop("a", "x")], variant="fourth")
        .condition([], variant="fifth")
        .variants(*MULTI)
        .build()
    )
    assert value_of(flag, "distinct_id_1", person_properties={"a": "x"}) == "fourth"
    assert value_of(flag, "distinct_id_1", person_properties={"a": "y"}) == "fifth"


def test_override_condition_respects_its_rollout() -> None:
    flag = (
        FlagBuilder("multivariate-flag")
        .condition([], rollout=0, variant="third")
        .condition()
        .variants(*MULTI)
    )
    assert value_of(flag.build(), "distinct_id_1") == "second"


# --- payloads (§6) -------------------------------------------------------------------------------


def test_payload_lookup_keys() -> None:
    flag_json = (
        FlagBuilder("p")
        .condition()
        .variants(("a", 100))
        .payload("true", '{"on": true}')
        .payload("a", '"variant a"')
        .payload("False", "off")
        .payload("b", {"stored": ["as", "is"]})
        .build()
    )
    flag = FlagDefinitions.parse([flag_json]).flags[0]
    assert lookup_payload(flag, True) == '{"on": true}'
    assert lookup_payload(flag, "a") == '"variant a"'
    assert lookup_payload(flag, False) == "off"
    assert lookup_payload(flag, "b") == {"stored": ["as", "is"]}
    assert lookup_payload(flag, "A") is None  # case-sensitive
    assert lookup_payload(FlagDefinitions.parse([FlagBuilder("q").build()]).flags[0], True) is None


@pytest.mark.parametrize("payloads", [None, "not-a-dict", []], ids=["null", "string", "empty list"])
def test_payload_lookup_with_unusable_payloads_is_none(payloads: Any) -> None:
    flag = FlagDefinitions.parse(
        [FlagBuilder("p").condition().set("filters.payloads", payloads).build()]
    ).flags[0]
    assert lookup_payload(flag, True) is None


# --- the evaluate_flag contract --------------------------------------------------------------------


def test_evaluate_flag_reads_cohorts_and_mapping_from_the_snapshot() -> None:
    flag_json = FlagBuilder("snap").group(1).condition().build()
    with_mapping = FlagDefinitions.parse([flag_json], {"1": "team"})
    without = FlagDefinitions.parse([flag_json])
    flag = with_mapping.flags[0]
    groups = {"team": "t1"}
    _, by_group = augment_properties("u", groups, None, None)
    assert evaluate_flag(flag, with_mapping, "u", groups, {}, by_group) is True
    assert is_inconclusive(evaluate_flag(flag, without, "u", groups, {}, by_group))


def test_bucketing_uses_hash_of_flag_key() -> None:
    ids = [f"id-{i}" for i in range(300)]
    flag = FlagBuilder("spread").condition(rollout=30).build()
    expected = [hash_bucket("spread", i) <= 0.3 for i in ids]
    assert [value_of(flag, i) for i in ids] == expected
    assert 60 < sum(expected) < 120
