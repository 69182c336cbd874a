"""clean()/encode_message(): convert what JSON cannot carry, drop only what cannot be converted
(wire.md §4; weaknesses.md §A.2, A.6, A.7). End-to-end checks are in test_hostile_input.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import uuid
from decimal import Decimal
from fractions import Fraction
from pathlib import PurePosixPath
from typing import Any, NoReturn

import pytest

from posthog._serialize import MAX_DEPTH, clean, encode_message


def strict_loads(data: bytes | str) -> Any:
    """json.loads that refuses NaN/Infinity, as strict parsers do."""

    def refuse(token: str) -> NoReturn:
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(data, parse_constant=refuse)


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: Decimal


class PydanticV2Like:
    def model_dump(self) -> dict[str, Any]:
        return {"a": Decimal("1.5"), "when": dt.date(2024, 1, 2)}


class PydanticV1Like:
    def dict(self) -> dict[str, Any]:
        return {"b": {2, 3}}


class NumpyInt64Like:
    def item(self) -> int:
        return 7


class NumpyFloat32NaNLike:
    def item(self) -> float:
        return float("nan")


class Opaque:
    """Has no JSON form at all."""


UTC = dt.timezone.utc

# (id, input, expected output of clean())
CONVERSIONS: list[tuple[str, Any, Any]] = [
    ("decimal", Decimal("1.25"), 1.25),
    ("uuid", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("datetime-aware", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05+00:00"),
    ("datetime-naive", dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
    ("date", dt.date(2024, 1, 2), "2024-01-02"),
    ("time", dt.time(3, 4, 5), "03:04:05"),
    ("timedelta", dt.timedelta(minutes=1, seconds=30), 90.0),
    ("enum", Color.RED, "red"),
    ("int-enum", Level.HIGH, 3),
    ("set", {1}, [1]),
    ("frozenset", frozenset({"a"}), ["a"]),
    ("tuple", (1, "a", None), [1, "a", None]),
    ("dataclass", Point(1, Decimal("2.5")), {"x": 1, "y": 2.5}),
    ("pydantic-v2-like", PydanticV2Like(), {"a": 1.5, "when": "2024-01-02"}),
    ("pydantic-v1-like", PydanticV1Like(), {"b": [2, 3]}),
    ("bytes-utf8", "héllo".encode(), "héllo"),
    ("bytes-invalid-utf8", b"ab\xff\xfecd", "ab\ufffd\ufffdcd"),
    ("bytearray", bytearray(b"xy"), "xy"),
    ("numpy-int-like", NumpyInt64Like(), 7),
    ("numpy-nan-like", NumpyFloat32NaNLike(), None),
    ("fraction", Fraction(1, 4), 0.25),
    ("complex", 1j, "1j"),
    ("nan", float("nan"), None),
    ("inf", float("inf"), None),
    ("-inf", float("-inf"), None),
    ("path", PurePosixPath("/tmp/x"), "/tmp/x"),
    (
        "non-str-keys",
        {5: "a", None: "b", 1.5: "c", (1, 2): "d"},
        {"5": "a", "null": "b", "1.5": "c", "(1, 2)": "d"},
    ),
    ("bool-key", {True: 1}, {"true": 1}),
    ("nested", {"a": [Decimal(1), {"b": {Color.RED}}]}, {"a": [1.0, {"b": ["red"]}]}),
    ("opaque-in-list", [1, Opaque(), 2], [1, 2]),
    ("opaque-in-dict", {"bad": Opaque(), "ok": 1}, {"ok": 1}),
]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in CONVERSIONS], ids=[c[0] for c in CONVERSIONS])
def test_clean_converts_to_json_safe_values(value: Any, expected: Any) -> None:
    assert clean({"v": value}) == {"v": expected}


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in CONVERSIONS], ids=[c[0] for c in CONVERSIONS])
def test_encode_message_emits_strict_json(value: Any, expected: Any) -> None:
    data = encode_message({"v": value, "ok": 1})

    assert isinstance(data, bytes)
    assert strict_loads(data) == {"v": expected, "ok": 1}


def test_non_ascii_is_escaped_and_compact() -> None:
    data = encode_message({"k": "é€😀"})
    assert data == b'{"k":"\\u00e9\\u20ac\\ud83d\\ude00"}'


def test_self_referencing_dict_and_list_are_cut_not_fatal() -> None:
    d: dict[str, Any] = {"a": 1}
    d["self"] = d
    lst: list[Any] = [1]
    lst.append(lst)

    assert strict_loads(encode_message({"d": d, "l": lst, "ok": 1})) == {"d": {"a": 1}, "l": [1], "ok": 1}


def test_shared_but_acyclic_values_are_kept_twice() -> None:
    shared = [Decimal(1)]
    assert clean({"x": shared, "y": shared, "z": {"w": shared}}) == {
        "x": [1.0],
        "y": [1.0],
        "z": {"w": [1.0]},
    }


def test_very_deep_nesting_raises_no_recursion_error() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["n"] = {}
        node = node["n"]

    decoded = strict_loads(encode_message({"deep": deep, "ok": 1}))

    assert decoded["ok"] == 1
    depth = 0
    node = decoded["deep"]
    while node:
        node = node["n"]
        depth += 1
    assert depth == MAX_DEPTH  # truncated at the explicit limit, not dropped, on every Python


def test_clean_leaves_the_callers_data_unchanged() -> None:
    opaque = Opaque()
    props: dict[Any, Any] = {"s": {1, 2}, "d": Decimal("1.5"), "n": float("nan"), "l": [opaque], 5: "k"}

    clean(props)

    assert list(props) == ["s", "d", "n", "l", 5]
    assert props["s"] == {1, 2}
    assert props["d"] == Decimal("1.5")
    assert math.isnan(props["n"])
    assert props["l"] == [opaque]


def test_a_failing_model_dump_drops_only_that_value() -> None:
    class Broken:
        def model_dump(self) -> NoReturn:
            raise RuntimeError("boom")

    assert clean({"bad": Broken(), "ok": 1}) == {"ok": 1}
