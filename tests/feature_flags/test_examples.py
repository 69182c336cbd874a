"""The worked examples and consistency checksums of flags.md §11, produced by posthog 3.25.0."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest

from posthog.feature_flags import FlagDefinitions, is_inconclusive, lookup_payload
from tests.support.builders import FlagBuilder, evaluate, prop

UNDECIDED = "inconclusive"


def value_of(flag: dict[str, Any], distinct_id: str, **kwargs: Any) -> Any:
    result = evaluate(flag, distinct_id, **kwargs)
    return UNDECIDED if is_inconclusive(result) else result


# flags.md §11 example 1 — boolean rollout
BETA = FlagBuilder("beta-feature").condition([], rollout=50).build()


@pytest.mark.parametrize(
    ("distinct_id", "expected"),
    [("user-123", False), ("user-7", True)],
    ids=["§11 ex1 user-123 hash 0.6535 > 0.5", "§11 ex1 user-7 hash 0.4555 <= 0.5"],
)
def test_example_1_boolean_rollout(distinct_id: str, expected: bool) -> None:
    assert value_of(BETA, distinct_id) is expected


def test_example_2_multivariate_with_payload() -> None:
    # flags.md §11 example 2
    flag_json = (
        FlagBuilder("checkout-test")
        .condition([], rollout=100)
        .variants(("control", 33), ("test-a", 33), ("test-b", 34))
        .payload("test-b", '{"color": "blue"}')
        .build()
    )
    assert value_of(flag_json, "user-42") == "test-b"
    flag = FlagDefinitions.parse([flag_json]).flags[0]
    assert [(v.value_min, v.value_max) for v in flag.variants] == [(0, 0.33), (0.33, 0.66), (0.66, 1.0)]
    assert lookup_payload(flag, "test-b") == '{"color": "blue"}'  # the string, not a dict


# flags.md §11 example 3 — group flag
COMPANY = (
    FlagBuilder("company-flag")
    .group(0)
    .condition([prop("plan", "enterprise", "exact", type="group", group_type_index=0)], rollout=95)
    .build()
)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"groups": {"company": "acme-inc"}, "group_properties": {"company": {"plan": "Enterprise"}}}, True),
        ({}, False),
        ({"groups": {"company": "acme-inc"}}, UNDECIDED),
    ],
    ids=[
        "§11 ex3 case-insensitive match, hash 0.9455 <= 0.95",
        "§11 ex3 no groups: False",
        "§11 ex3 plan missing",
    ],
)
def test_example_3_group_flag(
    kwargs: dict[str, Any], expected: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="posthog"):
        assert value_of(COMPANY, "user-9", group_type_mapping={"0": "company"}, **kwargs) == expected


# flags.md §11 example 4 — condition order and variant override
ONBOARDING = (
    FlagBuilder("onboarding")
    .condition([prop("email", "@example.com", "icontains")], rollout=100)
    .condition([prop("country", ["US", "CA"], "exact")], rollout=100, variant="treatment")
    .variants(("control", 50), ("treatment", 50))
    .build()
)


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ({"email": "a@Example.com", "country": "us"}, "treatment"),
        ({"email": "a@Example.com", "country": "FR"}, "control"),
        ({"email": "a@Example.com"}, "control"),
        ({"email": "x@other.com"}, UNDECIDED),
    ],
    ids=[
        "§11 ex4 override sorted first, list match case-insensitive",
        "§11 ex4 override fails, hashed variant",
        "§11 ex4 override inconclusive, later condition wins",
        "§11 ex4 email fails, country missing",
    ],
)
def test_example_4_condition_order_and_override(person: dict[str, Any], expected: Any) -> None:
    assert value_of(ONBOARDING, "user-5", person_properties=person) == expected


# flags.md §11 example 5 — numeric versus string comparison
AGE_GATE = FlagBuilder("age-gate").condition([prop("age", "10", "gt")], rollout=100).build()


AGES = [
    (9, False),
    ("9", True),
    (11, True),
    ("11", True),
    (100, True),
    ("100", True),
    (10.5, True),
    (True, False),
]


@pytest.mark.parametrize(("age", "expected"), AGES, ids=[f"§11 ex5 age={age!r}" for age, _ in AGES])
def test_example_5_numeric_versus_string(age: Any, expected: bool) -> None:
    assert value_of(AGE_GATE, "user-1", person_properties={"age": age}) is expected


def _checksum(results: list[Any]) -> str:
    text = ",".join("true" if r is True else "false" if r is False else str(r) for r in results)
    return hashlib.sha256(text.encode()).hexdigest()


def test_checksum_simple_flag_1000_ids() -> None:
    # flags.md §11 "Consistency checksums": rollout 45 over distinct_id_0 … distinct_id_999
    flag = FlagBuilder("simple-flag").condition([], rollout=45).build()
    results = [value_of(flag, f"distinct_id_{i}") for i in range(1000)]
    assert results[:12] == [False, True, True, False, True, False, False, True, False, True, False, True]
    assert results.count(True) == 446 and results.count(False) == 554
    assert _checksum(results) == "2f76d098f18036c2849d59946f3123879670ee43f5f41c334cdf93f832e7c9bc"


def test_checksum_multivariate_flag_1000_ids() -> None:
    flag = (
        FlagBuilder("multivariate-flag")
        .condition([], rollout=55)
        .variants(
            ("first-variant", 50),
            ("second-variant", 20),
            ("third-variant", 20),
            ("fourth-variant", 5),
            ("fifth-variant", 5),
        )
        .build()
    )
    results = [value_of(flag, f"distinct_id_{i}") for i in range(1000)]
    counts = {key: results.count(key) for key in {*results}}
    assert counts == {
        False: 444,
        "first-variant": 290,
        "second-variant": 110,
        "third-variant": 111,
        "fourth-variant": 24,
        "fifth-variant": 21,
    }
    first = [
        "second",
        "second",
        "first",
        False,
        False,
        "second",
        "first",
        False,
        False,
        False,
        "first",
        "third",
    ]
    assert results[:12] == [v if v is False else f"{v}-variant" for v in first]
    assert _checksum(results) == "d396e8531b0375389fadee36caaaf9376c93151b31d2328c5d01c388bf7bd42a"
