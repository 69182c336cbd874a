"""Rollout hashing and variant bucket bounds against the reference values of flags.md §2."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from posthog.feature_flags import FlagDefinitions, hash_bucket
from posthog.feature_flags.hashing import LONG_SCALE
from tests.support.builders import FlagBuilder

# flags.md §2 "Reference values": (flag key, bucketing id, salt, first 15 hex, integer, hash)
REFERENCE_ROWS = [
    ("beta-feature", "user-123", "", "a74ce189fe821bb", 753453642835042747, 0.6535168611430965),
    ("beta-feature", "user-7", "", "7499d14e6e1a760", 525123544663828320, 0.4554720703582492),
    ("beta-feature", "user-123", "variant", "895dada1309ab14", 618641153990437652, 0.5365856665162976),
    ("checkout-test", "user-42", "", "71b3eb1ea8d4b3c", 512071916501945148, 0.4441515874721798),
    ("checkout-test", "user-42", "variant", "b1cc4551844d52e", 800730703523534126, 0.6945231746688496),
    ("company-flag", "acme-inc", "", "f20df3f36bca294", 1090116572417925780, 0.9455254048623735),
    ("onboarding", "user-5", "variant", "57c2c10cf2e3569", 395239318008771945, 0.3428154617894398),
    ("numeric-id", 12345, "", "d8fd92ce45e1632", 977238430995846706, 0.8476192239376181),
    ("numeric-id", 1.0, "", "d73fb0b152a5dd7", 969394369833098711, 0.8408155854146098),
    ("simple-flag", "some-distinct-id", "", "7a4e342ee339130", 550814931049746736, 0.477755795905271),
    (
        "multivariate-flag",
        "distinct_id_1",
        "variant",
        "a5b6890138e0a62",
        746305131272604258,
        0.6473165157302697,
    ),
]


@pytest.mark.parametrize(
    ("key", "bucketing_id", "salt", "hex15", "integer", "expected"),
    REFERENCE_ROWS,
    ids=[f"§2 {k}.{i}{s}" for k, i, s, *_ in REFERENCE_ROWS],
)
def test_hash_bucket_matches_reference_table(
    key: str, bucketing_id: Any, salt: str, hex15: str, integer: int, expected: float
) -> None:
    # flags.md §2: the table's intermediate columns hold for the input string...
    digest = hashlib.sha1(f"{key}.{bucketing_id}{salt}".encode()).hexdigest()
    assert digest[:15] == hex15
    assert int(hex15, 16) == integer
    # ...and the bucket is exactly the double the library computed (twice: the cache must agree).
    assert hash_bucket(key, bucketing_id, salt) == expected
    assert hash_bucket(key, bucketing_id, salt) == expected


def test_scale_is_fifteen_f_as_a_double() -> None:
    # flags.md §2 step 4: float(0xFFFFFFFFFFFFFFF) is exactly 2**60.
    assert float(2**60) == LONG_SCALE


@pytest.mark.parametrize(
    ("bucketing_id", "text"),
    [
        (True, "True"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (0, "0"),
    ],
    ids=["§2 bool formats as True", "§2 UUID formats hyphenated lowercase", "§2 int formats as text"],
)
def test_bucketing_id_is_formatted_with_str(bucketing_id: Any, text: str) -> None:
    # flags.md §2 step 1: the id is formatted, not converted beforehand.
    assert hash_bucket("flag", bucketing_id) == hash_bucket("flag", text)


def test_bucket_is_within_unit_interval_for_many_ids() -> None:
    buckets = [hash_bucket("range-check", f"id-{i}") for i in range(2000)]
    assert all(0.0 <= b <= 1.0 for b in buckets)
    assert 0.45 < sum(buckets) / len(buckets) < 0.55


def test_variant_bounds_accumulate_in_double_arithmetic() -> None:
    # flags.md §2 "Variant selection" step 1: 50/20/20/5/5 → 0.5, 0.7, 0.8999999999999999, 0.95, 1.0
    flag = (
        FlagBuilder("multivariate-flag")
        .condition()
        .variants(("first", 50), ("second", 20), ("third", 20), ("fourth", 5), ("fifth", 5))
        .build()
    )
    variants = FlagDefinitions.parse([flag]).flags[0].variants
    assert [v.value_max for v in variants] == [0.5, 0.7, 0.8999999999999999, 0.95, 1.0]
    assert [v.value_min for v in variants] == [0, 0.5, 0.7, 0.8999999999999999, 0.95]
    assert [v.key for v in variants] == ["first", "second", "third", "fourth", "fifth"]


def test_a_flags_bucket_memo_gives_hash_bucket_and_keeps_only_str_ids() -> None:
    from posthog.feature_flags.hashing import _MEMO_LIMIT, bucket_memo, memo_bucket

    memo = bucket_memo("memo-flag", "variant")
    assert bucket_memo("memo-flag", "variant") is memo  # one memo per (key, salt)
    assert bucket_memo("memo-flag") is not memo
    for bucketing_id in ["user-1", 1, 1.0, True, uuid.UUID(int=7)]:
        assert memo_bucket(memo, "memo-flag", bucketing_id, "variant") == hash_bucket(
            "memo-flag", bucketing_id, "variant"
        )
    # 1, 1.0 and True are equal keys that spell different texts: only str and int ids are kept
    assert list(memo) == ["user-1", 1]
    assert memo[1] == hash_bucket("memo-flag", 1, "variant")
    assert memo["user-1"] == hash_bucket("memo-flag", "user-1", "variant")
    for index in range(_MEMO_LIMIT + 5):
        memo_bucket(memo, "memo-flag", f"id-{index}", "variant")
    assert len(memo) <= _MEMO_LIMIT  # bounded
