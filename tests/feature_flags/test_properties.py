"""Property operators (flags.md §4): one table of operator, value type and property value."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from dateutil import parser as dateutil_parser
from dateutil.relativedelta import relativedelta

from posthog.feature_flags.definitions import DateForm, PropertyFilter, parse_date_text, parse_property_filter
from posthog.feature_flags.properties import Undecided, match_filter
from tests.support.builders import OMIT, prop

UNDECIDED = "undecided"  # any Undecided member: inconclusive
RAISES = "raises TypeError"  # 3.x raises; the whole flag becomes inconclusive


def outcome(filter_json: dict[str, Any], properties: dict[str, Any]) -> Any:
    parsed = parse_property_filter(filter_json)
    assert isinstance(parsed, PropertyFilter)
    try:
        result = match_filter(parsed, properties)
    except TypeError:
        return RAISES
    return UNDECIDED if isinstance(result, Undecided) else result


# (id, filter, properties, expected)
OPERATOR_TABLE: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = [
    # --- order of checks ----------------------------------------------------------------------
    ("§4.1 missing key: exact", prop("plan", "pro"), {}, UNDECIDED),
    ("§4.1 missing key: is_set", prop("plan", None, "is_set"), {}, UNDECIDED),
    ("§4.1 missing key: is_not", prop("plan", "pro", "is_not"), {"other": 1}, UNDECIDED),
    ("§4.1 missing key: unknown operator", prop("plan", "pro", "starts_with"), {}, UNDECIDED),
    ("§4.1 missing key: gt", prop("age", 10, "gt"), {}, UNDECIDED),
    ("§4.2 is_not_set with the key present", prop("plan", None, "is_not_set"), {"plan": "pro"}, UNDECIDED),
    ("§4.2 is_not_set with a None value", prop("plan", None, "is_not_set"), {"plan": None}, UNDECIDED),
    ("§4.3 None value: exact", prop("plan", "pro"), {"plan": None}, False),
    ("§4.3 None value: exact 'None'", prop("plan", "None"), {"plan": None}, False),
    ("§4.3 None value: is_set", prop("plan", None, "is_set"), {"plan": None}, False),
    ("§4.3 None value: icontains", prop("plan", "o", "icontains"), {"plan": None}, False),
    ("§4.3 None value: not_icontains", prop("plan", "o", "not_icontains"), {"plan": None}, False),
    ("§4.3 None value: regex", prop("plan", ".*", "regex"), {"plan": None}, False),
    ("§4.3 None value: not_regex", prop("plan", "x", "not_regex"), {"plan": None}, False),
    ("§4.3 None value: gt", prop("age", 1, "gt"), {"age": None}, False),
    ("§4.3 None value: date", prop("d", "2024-01-01", "is_date_before"), {"d": None}, False),
    ("§4.3 None value: unknown operator", prop("plan", "x", "in"), {"plan": None}, False),
    ("§4.3 None value: is_not compares 'None'", prop("plan", "x", "is_not"), {"plan": None}, True),
    ("§4.3 None value: is_not 'none'", prop("plan", "none", "is_not"), {"plan": None}, False),
    ("§4.3 None value: is_not list", prop("plan", ["x"], "is_not"), {"plan": None}, True),
    # --- exact --------------------------------------------------------------------------------
    ("§4 exact: same text", prop("plan", "pro"), {"plan": "pro"}, True),
    ("§4 exact: case-insensitive", prop("plan", "pro"), {"plan": "PRO"}, True),
    ("§4 exact: different text", prop("plan", "pro"), {"plan": "free"}, False),
    ("§4 exact: substring is not equal", prop("plan", "pro"), {"plan": "professional"}, False),
    ("§4 exact: missing operator means exact", prop("plan", "pro", OMIT), {"plan": "Pro"}, True),
    ("§4 exact: null operator means exact", prop("plan", "pro", None), {"plan": "Pro"}, True),
    ("§4 exact: empty operator means exact", prop("plan", "pro", ""), {"plan": "Pro"}, True),
    ("§4 exact: list, case-insensitive", prop("c", ["US", "CA"]), {"c": "us"}, True),
    ("§4 exact: list, absent", prop("c", ["US", "CA"]), {"c": "FR"}, False),
    ("§4 exact: list of numbers vs text", prop("n", [1, 2]), {"n": "2"}, True),
    ("§4 exact: empty list", prop("n", []), {"n": ""}, False),
    ("§4 exact: list value is str() of a list", prop("t", "['a']"), {"t": ["A"]}, True),
    ("§4 exact: bool value True vs 'true'", prop("b", "true"), {"b": True}, True),
    ("§4 exact: value True vs 'TRUE'", prop("b", True), {"b": "TRUE"}, True),
    ("§4 exact: value False vs 'false'", prop("b", False), {"b": "false"}, True),
    ("§4 exact: bool vs 1", prop("b", True), {"b": 1}, False),
    ("§4 exact: int vs text", prop("n", 1), {"n": "1"}, True),
    ("§4 exact: float 1.0 vs '1'", prop("n", "1"), {"n": 1.0}, False),
    ("§4 exact: float 1.0 vs '1.0'", prop("n", "1.0"), {"n": 1.0}, True),
    ("§4 exact: null value vs 'None'", prop("n", None), {"n": "none"}, True),
    ("§4 exact: casefold ß = SS", prop("s", "STRASSE"), {"s": "straße"}, True),
    ("§4 exact: casefold keeps dotless i", prop("s", "i"), {"s": "\u0131"}, False),
    # --- is_not -------------------------------------------------------------------------------
    ("§4 is_not: different", prop("plan", "pro", "is_not"), {"plan": "free"}, True),
    ("§4 is_not: equal up to case", prop("plan", "pro", "is_not"), {"plan": "PRO"}, False),
    ("§4 is_not: list, absent", prop("c", ["US"], "is_not"), {"c": "fr"}, True),
    ("§4 is_not: list, present", prop("c", ["US"], "is_not"), {"c": "us"}, False),
    ("§4 is_not: bool text", prop("b", "true", "is_not"), {"b": True}, False),
    # --- is_set -------------------------------------------------------------------------------
    ("§4 is_set: empty string counts", prop("e", None, "is_set"), {"e": ""}, True),
    ("§4 is_set: zero counts", prop("e", None, "is_set"), {"e": 0}, True),
    ("§4 is_set: False counts", prop("e", "x", "is_set"), {"e": False}, True),
    # --- icontains ----------------------------------------------------------------------------
    ("§4 icontains: case-insensitive", prop("e", "@posthog.com", "icontains"), {"e": "x@PostHog.com"}, True),
    ("§4 icontains: absent", prop("e", "@posthog.com", "icontains"), {"e": "x@y.com"}, False),
    ("§4 icontains: numbers via text", prop("n", 12, "icontains"), {"n": 1234}, True),
    ("§4 icontains: bool via text", prop("b", "RU", "icontains"), {"b": True}, True),
    ("§4 icontains: empty value", prop("e", "", "icontains"), {"e": "anything"}, True),
    ("§4 not_icontains: present", prop("e", "POSTHOG", "not_icontains"), {"e": "x@posthog.com"}, False),
    ("§4 not_icontains: absent", prop("e", "posthog", "not_icontains"), {"e": "x@y.com"}, True),
    # --- regex --------------------------------------------------------------------------------
    ("§4 regex: anchored match", prop("p", "^pro", "regex"), {"p": "pro plan"}, True),
    ("§4 regex: search, not full match", prop("p", "pro", "regex"), {"p": "a pro plan"}, True),
    ("§4 regex: anchor not found", prop("p", "^pro", "regex"), {"p": "a pro"}, False),
    ("§4 regex: case-sensitive", prop("p", "PRO", "regex"), {"p": "pro"}, False),
    ("§4 regex: inline flag", prop("p", "(?i)PRO", "regex"), {"p": "pro"}, True),
    ("§4 regex: bool searched as 'True'", prop("b", "^True$", "regex"), {"b": True}, True),
    ("§4 regex: number value is the pattern text", prop("n", 12, "regex"), {"n": 1234}, True),
    ("§4 regex: invalid pattern", prop("p", "(", "regex"), {"p": "("}, False),
    ("§4 not_regex: no match", prop("p", "^pro", "not_regex"), {"p": "free"}, True),
    ("§4 not_regex: match", prop("p", "^pro", "not_regex"), {"p": "pro"}, False),
    ("§4 not_regex: invalid pattern is no match", prop("p", "[", "not_regex"), {"p": "x"}, False),
    # --- gt / gte / lt / lte --------------------------------------------------------------------
    ("§4 gt: int vs '10' numerically", prop("a", "10", "gt"), {"a": 9}, False),
    ("§4 gt: '9' vs '10' as text", prop("a", "10", "gt"), {"a": "9"}, True),
    ("§4 gt: '100' vs '10' as text", prop("a", "10", "gt"), {"a": "100"}, True),
    ("§4 gt: float", prop("a", "10", "gt"), {"a": 10.5}, True),
    ("§4 gt: bool acts as 1", prop("a", "10", "gt"), {"a": True}, False),
    ("§4 gt: bool value parses as 1.0", prop("a", True, "gt"), {"a": 2}, True),
    ("§4 gt: text vs str(True)", prop("a", True, "gt"), {"a": "2"}, False),
    ("§4 gt: number value", prop("a", 10, "gt"), {"a": 11}, True),
    ("§4 gt: exponent", prop("a", "1e3", "gt"), {"a": 1001}, True),
    ("§4 gt: padded number", prop("a", " 10 ", "gt"), {"a": 11}, True),
    ("§4 gte: equal number", prop("a", "10", "gte"), {"a": 10}, True),
    ("§4 gte: equal text", prop("a", "10", "gte"), {"a": "10"}, True),
    ("§4 gte: nan never compares", prop("a", "nan", "gte"), {"a": 5}, False),
    ("§4 lt: number", prop("a", "10", "lt"), {"a": 9}, True),
    ("§4 lt: '9' < '10' is false as text", prop("a", "10", "lt"), {"a": "9"}, False),
    ("§4 lt: infinity", prop("a", "inf", "lt"), {"a": 5}, True),
    ("§4 lte: float equal", prop("a", "10", "lte"), {"a": 10.0}, True),
    ("§4 gt: unparsable value compares text", prop("a", "abc", "gt"), {"a": 5}, False),
    ("§4 gt: unparsable value, text property", prop("a", "abc", "gt"), {"a": "b"}, True),
    ("§4 gt: null value compares with 'None'", prop("a", None, "gt"), {"a": "Zzz"}, True),
    ("§4 gt: list value compares text", prop("a", [1], "gt"), {"a": 5}, False),
    ("§4 gt: huge int does not fit a float", prop("a", 10**400, "gt"), {"a": "5"}, True),
    ("§4 gt: list property is incomparable", prop("a", "10", "gt"), {"a": [1]}, RAISES),
    ("§4 lte: dict property is incomparable", prop("a", 10, "lte"), {"a": {"x": 1}}, RAISES),
    # --- unknown operators --------------------------------------------------------------------
    *[
        (f"§4 unknown operator {op!r}", prop("a", "x", op), {"a": "x"}, UNDECIDED)
        for op in ["in", "not_in", "is_date_exact", "semver_gt", "starts_with", "ends_with", "EXACT", 5]
    ],
    (
        "§4 unknown operator: flag dependency",
        prop("a", True, "flag_evaluates_to", type="flag"),
        {"a": 1},
        UNDECIDED,
    ),
]


@pytest.mark.parametrize(
    ("filter_json", "properties", "expected"),
    [row[1:] for row in OPERATOR_TABLE],
    ids=[row[0] for row in OPERATOR_TABLE],
)
def test_operator(filter_json: dict[str, Any], properties: dict[str, Any], expected: Any) -> None:
    assert outcome(filter_json, properties) == expected


# --- dates (flags.md §4 "Date operators") -------------------------------------------------------

NOW = datetime.now(timezone.utc)
EST = timezone(timedelta(hours=-8))

# (id, operator, value, property value, expected); relative cases keep ≥ 1 h from the boundary.
DATE_TABLE: list[tuple[str, str, Any, Any, Any]] = [
    ("§4 verified: before, Z string", "is_date_before", "2024-01-01", "2023-12-31T23:59:59Z", True),
    ("§4 verified: after -7d vs naive now", "is_date_after", "-7d", datetime.now(), True),
    ("§4 verified: epoch number unsupported", "is_date_before", "2024-01-01", 1700000000, UNDECIDED),
    ("§4 verified: 10000d is not relative", "is_date_before", "10000d", "2020-01-01", UNDECIDED),
    (
        "§4 verified: offsets compared",
        "is_date_after",
        "2024-01-01T00:00:00+05:00",
        "2023-12-31T20:00:00Z",
        True,
    ),
    ("§4 strict: equal is not before", "is_date_before", "2024-01-01", datetime(2024, 1, 1), False),
    ("§4 strict: equal is not after", "is_date_after", "2024-01-01", datetime(2024, 1, 1), False),
    (
        "§4 naive datetime is UTC",
        "is_date_before",
        "2024-01-01T00:00:00+00:00",
        datetime(2023, 12, 31, 23),
        True,
    ),
    (
        "§4 aware datetime across offsets",
        "is_date_after",
        "2024-01-01",
        datetime(2023, 12, 31, 20, tzinfo=EST),
        True,
    ),
    ("§4 date vs parsed.date()", "is_date_before", "2024-01-02", date(2024, 1, 1), True),
    (
        "§4 date strict on the same day",
        "is_date_before",
        "2024-01-01T23:00:00+05:00",
        date(2024, 1, 1),
        False,
    ),
    ("§4 date after", "is_date_after", "2023-12-30", date(2024, 1, 1), True),
    ("§4 unparsable string property", "is_date_before", "2024-01-01", "not a date", UNDECIDED),
    ("§4 overflowing string property", "is_date_before", "2024-01-01", "99999999999999999999", UNDECIDED),
    ("§4 float property unsupported", "is_date_after", "2024-01-01", 1.5, UNDECIDED),
    ("§4 bool property unsupported", "is_date_after", "2024-01-01", True, UNDECIDED),
    ("§4 list property unsupported", "is_date_after", "2024-01-01", ["2025-01-01"], UNDECIDED),
    ("§4 unparsable flag date", "is_date_before", "notadate", "2024-01-01", UNDECIDED),
    ("§4 null flag date", "is_date_before", None, "2024-01-01", UNDECIDED),
    ("§4 bool flag date", "is_date_before", True, "2024-01-01", UNDECIDED),
    ("§4 number flag date parsed as text", "is_date_before", 20240101, "2023-06-01", True),
    ("§4 month-first format", "is_date_before", "01/02/2024", "2024-01-01T12:00:00Z", True),
    ("§4 01/02/2024 is January 2", "is_date_after", "01/02/2024", "2024-01-03", True),
    ("§4 free format", "is_date_after", "March 3 2022", datetime(2022, 3, 4, tzinfo=timezone.utc), True),
    ("§4 missing fields default to today", "is_date_before", "June 5", "1990-01-01", True),
    ("§4 relative 7d after", "is_date_after", "7d", NOW - timedelta(days=6), True),
    ("§4 relative 7d not after", "is_date_after", "7d", NOW - timedelta(days=8), False),
    ("§4 relative minus sign makes no difference", "is_date_after", "-7d", NOW - timedelta(days=6), True),
    ("§4 relative hours", "is_date_before", "12h", NOW - timedelta(hours=13), True),
    ("§4 relative weeks", "is_date_after", "2w", NOW - timedelta(days=13), True),
    (
        "§4 relative months are calendar months",
        "is_date_after",
        "1m",
        NOW - relativedelta(months=1, days=2),
        False,
    ),
    (
        "§4 relative month, one day inside",
        "is_date_after",
        "1m",
        NOW - relativedelta(months=1) + timedelta(days=1),
        True,
    ),
    ("§4 relative years", "is_date_before", "1y", NOW - relativedelta(years=1, days=1), True),
    ("§4 relative vs date", "is_date_before", "3d", (NOW - timedelta(days=5)).date(), True),
    ("§4 relative vs string", "is_date_after", "3d", (NOW - timedelta(days=1)).isoformat(), True),
    ("§4 relative 9999y is out of range", "is_date_after", "9999y", "2024-01-01", UNDECIDED),
    ("§4 relative trailing newline", "is_date_after", "7d\n", NOW - timedelta(days=6), True),
    # an offset of 24 h or more parses but cannot be compared: 3.x is inconclusive for strings,
    # compares dates, and fails (the flag aborts) for datetimes
    ("§4 24 h offset, string property", "is_date_before", "2024-01-01", "00:00:00-31", UNDECIDED),
    ("§4 24 h offset flag date, string property", "is_date_before", "10:30 UTC-24", "2024-01-01", UNDECIDED),
    ("§4 24 h offset flag date, date property", "is_date_before", "10:30 UTC-24", date(2024, 1, 1), True),
]


@pytest.mark.parametrize(
    ("operator", "value", "property_value", "expected"),
    [row[1:] for row in DATE_TABLE],
    ids=[row[0] for row in DATE_TABLE],
)
def test_date_operator(operator: str, value: Any, property_value: Any, expected: Any) -> None:
    assert outcome(prop("d", value, operator), {"d": property_value}) == expected


def test_date_offset_of_24_hours_aborts_against_a_datetime() -> None:
    parsed = parse_property_filter(prop("d", "10:30 UTC-24", "is_date_before"))
    assert isinstance(parsed, PropertyFilter)
    with pytest.raises(ValueError):
        match_filter(parsed, {"d": datetime(2024, 1, 1)})


@pytest.mark.parametrize(
    ("value", "form"),
    [
        ("Feb 2024", DateForm.DYNAMIC),
        ("2021-05", DateForm.DYNAMIC),
        ("12 /2024 mon", DateForm.DYNAMIC),
        ("Monday", DateForm.DYNAMIC),
        ("Feb 29", DateForm.DYNAMIC),
        ("2024-01-01", DateForm.ABSOLUTE),
        ("2024-01-01T00:00:00+05:00", DateForm.ABSOLUTE),
        ("7d", DateForm.RELATIVE),
        ("-12h", DateForm.RELATIVE),
        ("9999y", DateForm.RELATIVE),
        ("10000d", DateForm.INVALID),
        ("notadate", DateForm.INVALID),
        ("June 5", DateForm.DYNAMIC),
        ("10:30", DateForm.DYNAMIC),
        ("5s", DateForm.DYNAMIC),
    ],
    ids=lambda v: f"§4 {v!r}" if isinstance(v, str) else str(v),
)
def test_date_operand_is_classified_once_at_parse_time(value: str, form: DateForm) -> None:
    parsed = parse_property_filter(prop("d", value, "is_date_before"))
    assert isinstance(parsed, PropertyFilter)
    assert parsed.date_form is form


@pytest.mark.parametrize(
    "text",
    [
        "Feb 2024",
        "2021-05",
        "12 /2024 mon",
        "Monday",
        "June 5",
        "10:30",
        "2019",
        "Feb 29",
        "2024-01-01T10:00+02:00",
    ],
)
def test_parse_date_text_equals_dateutil_today(text: str) -> None:
    # flags.md §4: missing fields default to today, so the cache must not freeze them.
    before = date.today()
    expected = dateutil_parser.parse(text) if text != "Feb 29" or calendar.isleap(before.year) else None
    if expected is not None and expected.tzinfo is None:
        expected = expected.replace(tzinfo=timezone.utc)
    actual = [parse_date_text(text) for _ in range(2)]  # the second from what the first learnt
    if date.today() != before:
        pytest.skip("the day changed during the test")
    assert actual == [expected, expected]


def test_absolute_date_is_parsed_once_naive_as_utc() -> None:
    parsed = parse_property_filter(prop("d", "2024-01-01 10:00", "is_date_after"))
    assert isinstance(parsed, PropertyFilter)
    assert parsed.date_value == datetime(2024, 1, 1, 10, tzinfo=timezone.utc)


def test_regex_and_numbers_are_prepared_once() -> None:
    regex = parse_property_filter(prop("p", "^a+$", "regex"))
    number = parse_property_filter(prop("p", "1e3", "gt"))
    exact = parse_property_filter(prop("p", ["A", 1]))
    assert isinstance(regex, PropertyFilter) and regex.pattern is not None
    assert regex.pattern.pattern == "^a+$"
    assert isinstance(number, PropertyFilter) and number.number == 1000.0
    assert isinstance(exact, PropertyFilter) and exact.folded_choices == frozenset({"a", "1"})


@pytest.mark.parametrize("text", ["pro plan", "x@PostHog.com", "1_0", " ", "inf"])
def test_a_text_dateutil_finds_no_date_in_is_parsed_once(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the default date, dateutil finds no date in these: one parse tells (not one per
    probe default), and the text is no date, as 3.25.0's parse says."""
    from posthog.feature_flags.dates import classify_date_text

    calls: list[Any] = []
    parse = dateutil_parser.parse

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return parse(*args, **kwargs)

    monkeypatch.setattr(dateutil_parser, "parse", counted)
    classify_date_text.cache_clear()
    assert classify_date_text(text) == (DateForm.INVALID, None)
    assert len(calls) == 1
    with pytest.raises(ValueError):
        parse(text)  # as 3.25.0 parses it: no date


def test_a_text_that_is_a_date_on_some_days_is_still_probed_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    from posthog.feature_flags.dates import classify_date_text

    calls: list[Any] = []
    parse = dateutil_parser.parse
    monkeypatch.setattr(dateutil_parser, "parse", lambda *a, **k: calls.append(a) or parse(*a, **k))
    classify_date_text.cache_clear()
    assert classify_date_text("June 5")[0] is DateForm.DYNAMIC
    assert classify_date_text("Feb 30")[0] is DateForm.INVALID  # fails when the date is built
    assert len(calls) == 4
