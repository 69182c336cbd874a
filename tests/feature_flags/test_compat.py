"""The 3.x functions of ``posthog.feature_flags`` keep their signatures and their semantics."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import posthog.feature_flags as ff
from tests.support.builders import FlagBuilder, cohort, prop, property_group

# Parameter lists of posthog 3.25.0 (inspect.signature on the reference).
SIGNATURES_3X = {
    "_hash": "(key, distinct_id, salt='')",
    "get_matching_variant": "(flag, distinct_id)",
    "is_condition_match": "(feature_flag, distinct_id, condition, properties, cohort_properties)",
    "match_cohort": "(property, property_values, cohort_properties)",
    "match_feature_flag_properties": "(flag, distinct_id, properties, cohort_properties=None)",
    "match_property": "(property, property_values)",
    "match_property_group": "(property_group, property_values, cohort_properties)",
    "relative_date_parse_for_feature_flag_matching": "(value)",
    "variant_lookup_table": "(feature_flag)",
}


def _parameters(fn: Any) -> str:
    signature = inspect.signature(fn)
    unannotated = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=unannotated, return_annotation=inspect.Signature.empty))


@pytest.mark.parametrize("name", sorted(SIGNATURES_3X))
def test_3x_function_keeps_its_parameters(name: str) -> None:
    assert _parameters(getattr(ff, name)) == SIGNATURES_3X[name]


def test_3x_names_are_exported() -> None:
    for name in [*SIGNATURES_3X, "InconclusiveMatchError", "FlagValue", "NONE_VALUES_ALLOWED_OPERATORS"]:
        assert hasattr(ff, name), name
    assert set(ff.__all__) <= set(dir(ff))
    assert issubclass(ff.InconclusiveMatchError, Exception)


@pytest.mark.parametrize(
    ("filter_json", "properties"),
    [
        (prop("plan", "pro"), {}),
        (prop("plan", None, "is_not_set"), {"plan": "x"}),
        (prop("plan", "x", "semver_gt"), {"plan": "x"}),
        (prop("d", "notadate", "is_date_before"), {"d": "2024-01-01"}),
    ],
    ids=["§4.1 missing key", "§4.2 is_not_set", "§4 unknown operator", "§4 invalid date"],
)
def test_match_property_raises_inconclusive(filter_json: dict[str, Any], properties: dict[str, Any]) -> None:
    with pytest.raises(ff.InconclusiveMatchError):
        ff.match_property(filter_json, properties)


def test_match_property_decides_and_raises_type_error_like_3x() -> None:
    assert ff.match_property(prop("plan", ["pro"]), {"plan": "PRO"}) is True
    assert ff.match_property(prop("age", "10", "gt"), {"age": "9"}) is True
    with pytest.raises(TypeError):
        ff.match_property(prop("age", "10", "gt"), {"age": [9]})


def test_match_cohort_and_property_group() -> None:
    cohorts = {"1": property_group("OR", property_group("AND", prop("plan", "pro"), prop("age", 18, "gte")))}
    assert ff.match_cohort(cohort(1), {"plan": "pro", "age": 20}, cohorts) is True
    assert ff.match_cohort(cohort(1), {"plan": "free", "age": 20}, cohorts) is False
    with pytest.raises(ff.InconclusiveMatchError):
        ff.match_cohort(cohort(2), {}, cohorts)
    assert ff.match_property_group(cohorts["1"], {"plan": "pro", "age": 18}, cohorts) is True
    assert ff.match_property_group(None, {}, None) is True


def test_match_feature_flag_properties_example_4() -> None:
    # flags.md §11 example 4 through the 3.x entry point (no augmentation, no active check)
    flag = (
        FlagBuilder("onboarding")
        .condition([prop("email", "@example.com", "icontains")])
        .condition([prop("country", ["US", "CA"])], variant="treatment")
        .variants(("control", 50), ("treatment", 50))
        .build()
    )
    assert (
        ff.match_feature_flag_properties(flag, "user-5", {"email": "a@Example.com", "country": "us"})
        == "treatment"
    )
    assert ff.match_feature_flag_properties(flag, "user-5", {"email": "a@Example.com"}) == "control"
    with pytest.raises(ff.InconclusiveMatchError):
        ff.match_feature_flag_properties(flag, "user-5", {"email": "x@other.com"})


def test_is_condition_match() -> None:
    flag = FlagBuilder("beta-feature").build()
    condition = {"properties": [prop("plan", "pro")], "rollout_percentage": 50}
    assert ff.is_condition_match(flag, "user-7", condition, {"plan": "pro"}, {}) is True
    assert ff.is_condition_match(flag, "user-123", condition, {"plan": "pro"}, {}) is False
    assert ff.is_condition_match(flag, "user-7", condition, {"plan": "free"}, {}) is False
    with pytest.raises(ff.InconclusiveMatchError):
        ff.is_condition_match(flag, "user-7", condition, {}, {})


def test_variant_helpers() -> None:
    flag = FlagBuilder("checkout-test").variants(("control", 33), ("test-a", 33), ("test-b", 34)).build()
    assert ff.variant_lookup_table(flag) == [
        {"value_min": 0, "value_max": 0.33, "key": "control"},
        {"value_min": 0.33, "value_max": 0.66, "key": "test-a"},
        {"value_min": 0.66, "value_max": 1.0, "key": "test-b"},
    ]
    assert ff.get_matching_variant(flag, "user-42") == "test-b"
    assert ff.get_matching_variant(FlagBuilder("no-variants").build(), "user-42") is None
    assert ff._hash("beta-feature", "user-123") == 0.6535168611430965


def test_relative_date_parse() -> None:
    parsed = ff.relative_date_parse_for_feature_flag_matching("7d")
    assert parsed is not None and parsed.tzinfo is not None
    expected = datetime.now(timezone.utc) - timedelta(days=7)
    assert abs((parsed - expected).total_seconds()) < 60
    assert ff.relative_date_parse_for_feature_flag_matching("7D") is None
    assert ff.relative_date_parse_for_feature_flag_matching("10000d") is None


def test_small_3x_helpers() -> None:
    assert ff.NONE_VALUES_ALLOWED_OPERATORS == ["is_not"]
    assert ff.is_valid_regex("^a") and not ff.is_valid_regex("(")
    assert ff.convert_to_datetime_aware(datetime(2024, 1, 1)).tzinfo is timezone.utc
