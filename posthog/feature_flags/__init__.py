"""Local feature flag evaluation: the typed core, plus the 3.x ``posthog.feature_flags`` functions.

New code uses ``FlagDefinitions`` (an immutable snapshot parsed once) with ``evaluate_flag`` and
``lookup_payload``. The 3.x functions below (``match_property``, ``match_feature_flag_properties``,
...) keep their signatures and semantics, raising ``InconclusiveMatchError`` where 3.x does; they
parse their dict arguments on every call, so they are slower than the core.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final, Optional

from .definitions import (
    EMPTY_DEFINITIONS,
    CohortFilter,
    FlagDefinition,
    FlagDefinitions,
    MalformedDefinitionError,
    MalformedFilter,
    PropertyGroup,
    parse_condition,
    parse_flag,
    parse_property_filter,
    parse_property_group,
    parse_relative_date,
    parse_variants,
)
from .evaluation import (
    FlagValue,
    Inconclusive,
    augment_properties,
    evaluate_flag,
    is_inconclusive,
    lookup_payload,
    match_conditions,
)
from .hashing import hash_bucket
from .properties import (
    Match,
    Undecided,
    match_filter,
    match_leaves,
    relative_date,
)
from .properties import match_cohort as _match_cohort_filter
from .properties import match_property_group as _match_group

__all__ = [
    "EMPTY_DEFINITIONS",
    "NONE_VALUES_ALLOWED_OPERATORS",
    "FlagDefinition",
    "FlagDefinitions",
    "FlagValue",
    "Inconclusive",
    "InconclusiveMatchError",
    "MalformedDefinitionError",
    "augment_properties",
    "convert_to_datetime_aware",
    "evaluate_flag",
    "get_matching_variant",
    "hash_bucket",
    "is_condition_match",
    "is_inconclusive",
    "is_valid_regex",
    "lookup_payload",
    "match_cohort",
    "match_feature_flag_properties",
    "match_property",
    "match_property_group",
    "relative_date_parse_for_feature_flag_matching",
    "variant_lookup_table",
]

NONE_VALUES_ALLOWED_OPERATORS: Final = ["is_not"]


class InconclusiveMatchError(Exception):
    """3.x: local evaluation cannot decide (the new core returns ``Inconclusive`` instead)."""


def _decided(result: Match) -> bool:
    if type(result) is Undecided:
        raise InconclusiveMatchError(result.value)
    return result  # type: ignore[return-value]


def _parse_cohorts(cohort_properties: Optional[Mapping[str, Any]]) -> dict[str, PropertyGroup]:
    return {str(k): parse_property_group(v) for k, v in (cohort_properties or {}).items()}


def _hash(key: str, distinct_id: object, salt: str = "") -> float:
    """3.x name of ``hash_bucket``."""
    return hash_bucket(key, distinct_id, salt)


def match_property(property: Mapping[str, Any], property_values: Mapping[str, Any]) -> bool:
    """3.x: match one property filter; raises ``InconclusiveMatchError`` when undecidable."""
    parsed = parse_property_filter(property)
    if isinstance(parsed, MalformedFilter):
        raise MalformedDefinitionError(parsed.reason)
    return _decided(match_filter(parsed, property_values))


def match_cohort(
    property: Mapping[str, Any],
    property_values: Mapping[str, Any],
    cohort_properties: Optional[Mapping[str, Any]],
) -> bool:
    """3.x: match a ``{"type": "cohort", "value": id}`` filter against the raw cohorts dict."""
    cohort = CohortFilter(str(property.get("value")))
    return _decided(_match_cohort_filter(cohort, property_values, _parse_cohorts(cohort_properties)))


def match_property_group(
    property_group: object,
    property_values: Mapping[str, Any],
    cohort_properties: Optional[Mapping[str, Any]],
) -> bool:
    """3.x: match a raw ``{"type": ..., "values": [...]}`` property group."""
    group = parse_property_group(property_group)
    return _decided(_match_group(group, property_values, _parse_cohorts(cohort_properties)))


def is_condition_match(
    feature_flag: Mapping[str, Any],
    distinct_id: object,
    condition: Mapping[str, Any],
    properties: Mapping[str, Any],
    cohort_properties: Optional[Mapping[str, Any]],
) -> bool:
    """3.x: whether one condition matches (properties, then rollout)."""
    parsed = parse_condition(condition, [])
    if parsed.error is not None:
        raise MalformedDefinitionError(parsed.error)
    if parsed.properties and not _decided(
        match_leaves(parsed.properties, properties, _parse_cohorts(cohort_properties))
    ):
        return False
    if parsed.rollout_error is not None:
        raise MalformedDefinitionError(parsed.rollout_error)
    if parsed.threshold is None:
        return True
    return hash_bucket(feature_flag["key"], distinct_id) <= parsed.threshold


def match_feature_flag_properties(
    flag: Mapping[str, Any],
    distinct_id: object,
    properties: Mapping[str, Any],
    cohort_properties: Optional[Mapping[str, Any]] = None,
) -> FlagValue:
    """3.x: evaluate a flag's conditions (no continuity, active or group handling)."""
    parsed = parse_flag(flag)
    if parsed.error is not None:
        raise MalformedDefinitionError(parsed.error)
    result = match_conditions(parsed, distinct_id, properties, _parse_cohorts(cohort_properties))
    if type(result) is Undecided:
        raise InconclusiveMatchError(result.value)
    return result  # type: ignore[return-value]


def variant_lookup_table(feature_flag: Mapping[str, Any]) -> list[dict[str, Any]]:
    """3.x: the variant bucket ranges, ``[{"value_min", "value_max", "key"}, ...]``."""
    filters = feature_flag.get("filters") or {}
    variants = (filters.get("multivariate") or {}).get("variants") or []
    table, error = parse_variants(variants)
    if error is not None:
        raise MalformedDefinitionError(error)
    return [{"value_min": v.value_min, "value_max": v.value_max, "key": v.key} for v in table]


def get_matching_variant(flag: Mapping[str, Any], distinct_id: object) -> Optional[Any]:
    """3.x: the variant picked by hash for ``distinct_id``, or None."""
    table = variant_lookup_table(flag)
    bucket = hash_bucket(flag["key"], distinct_id, "variant")
    for entry in table:
        if entry["value_min"] <= bucket < entry["value_max"]:
            return entry["key"]
    return None


def relative_date_parse_for_feature_flag_matching(value: str) -> Optional[datetime]:
    """3.x: ``"7d"``-style relative dates → an aware UTC datetime, else None."""
    relative = parse_relative_date(value)
    if relative is None:
        return None
    return relative_date(*relative)


def is_valid_regex(value: str) -> bool:
    """3.x helper: whether ``value`` compiles as a Python regex."""
    try:
        re.compile(value)
    except re.error:
        return False
    return True


def convert_to_datetime_aware(date_obj: datetime) -> datetime:
    """3.x helper: a naive datetime is taken as UTC."""
    return date_obj if date_obj.tzinfo is not None else date_obj.replace(tzinfo=timezone.utc)
