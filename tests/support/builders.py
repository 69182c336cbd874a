"""Builders for local-evaluation JSON: flags, property filters, cohorts (flags.md §1-§5).

flag = (
    FlagBuilder("checkout-test")
    .condition([prop("plan", "pro")], rollout=50)
    .variants(("control", 50), ("test", 50))
    .payload("test", '{"color": "blue"}')
    .build()
)
body = definitions([flag], group_type_mapping={"0": "company"})
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final, Optional, Union

__all__ = [
    "OMIT",
    "FlagBuilder",
    "cohort",
    "definitions",
    "evaluate",
    "prop",
    "property_group",
]


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()  # leave the field out of the JSON entirely (unlike None, which is null)


def prop(
    key: Any,
    value: Any,
    operator: Union[str, _Omit, None] = "exact",
    *,
    type: Union[str, _Omit, None] = "person",
    negation: Union[bool, _Omit] = OMIT,
    group_type_index: Union[int, _Omit] = OMIT,
) -> dict[str, Any]:
    """A property filter; ``OMIT`` leaves a field out, ``None`` writes null."""
    result: dict[str, Any] = {"key": key, "value": value}
    for name, field in (
        ("operator", operator),
        ("type", type),
        ("negation", negation),
        ("group_type_index", group_type_index),
    ):
        if field is not OMIT:
            result[name] = field
    return result


def cohort(cohort_id: Any, *, negation: Union[bool, _Omit] = OMIT) -> dict[str, Any]:
    """A ``{"type": "cohort", "value": id}`` filter."""
    result: dict[str, Any] = {"key": "id", "type": "cohort", "value": cohort_id}
    if negation is not OMIT:
        result["negation"] = negation
    return result


def property_group(kind: Union[str, _Omit, None], *values: Any) -> dict[str, Any]:
    """A cohort property group: ``property_group("AND", prop(...), property_group("OR", ...))``."""
    result: dict[str, Any] = {"values": list(values)}
    if kind is not OMIT:
        result["type"] = kind
    return result


class FlagBuilder:
    """Fluent builder of one flag definition; ``build()`` returns a fresh dict each time."""

    def __init__(self, key: Any, *, flag_id: int = 1) -> None:
        self._flag: dict[str, Any] = {
            "id": flag_id,
            "name": f"{key}",
            "key": key,
            "active": True,
            "deleted": False,
            "ensure_experience_continuity": False,
            "filters": {"groups": []},
        }

    @property
    def _filters(self) -> dict[str, Any]:
        filters: dict[str, Any] = self._flag["filters"]
        return filters

    def condition(
        self,
        properties: Optional[Sequence[Mapping[str, Any]]] = (),
        *,
        rollout: Union[float, _Omit, None] = 100,
        variant: Union[str, _Omit, None] = OMIT,
    ) -> FlagBuilder:
        """Append a condition (``filters.groups`` entry); ``properties=None`` writes null."""
        condition: dict[str, Any] = {
            "properties": None if properties is None else [dict(p) for p in properties]
        }
        if rollout is not OMIT:
            condition["rollout_percentage"] = rollout
        if variant is not OMIT:
            condition["variant"] = variant
        self._filters["groups"].append(condition)
        return self

    def variants(self, *variants: Union[tuple[str, float], Mapping[str, Any]]) -> FlagBuilder:
        """Set ``filters.multivariate.variants`` from ``("key", percentage)`` pairs or raw dicts."""
        entries = [
            dict(v)
            if isinstance(v, Mapping)
            else {"key": v[0], "name": v[0].title(), "rollout_percentage": v[1]}
            for v in variants
        ]
        self._filters["multivariate"] = {"variants": entries}
        return self

    def payload(self, value_key: str, payload: Any) -> FlagBuilder:
        """Store ``payload`` under ``filters.payloads[value_key]`` (usually a JSON string)."""
        self._filters.setdefault("payloads", {})[value_key] = payload
        return self

    def group(self, index: Any) -> FlagBuilder:
        """Make this a group flag aggregated by ``aggregation_group_type_index``."""
        self._filters["aggregation_group_type_index"] = index
        return self

    def continuity(self, enabled: bool = True) -> FlagBuilder:
        """Set ``ensure_experience_continuity``."""
        self._flag["ensure_experience_continuity"] = enabled
        return self

    def inactive(self) -> FlagBuilder:
        """Set ``active`` to false."""
        self._flag["active"] = False
        return self

    def set(self, path: str, value: Any) -> FlagBuilder:
        """Overwrite any field by dotted path (``"filters.groups"``), for malformed definitions."""
        *parents, last = path.split(".")
        target = self._flag
        for name in parents:
            target = target.setdefault(name, {})
        target[last] = value
        return self

    def build(self) -> dict[str, Any]:
        """The flag as local-evaluation JSON."""
        return copy.deepcopy(self._flag)


def definitions(
    flags: Sequence[Mapping[str, Any]],
    group_type_mapping: Optional[Mapping[str, str]] = None,
    cohorts: Optional[Mapping[str, Any]] = None,
) -> dict[str, Any]:
    """The local_evaluation endpoint body."""
    return {
        "flags": [dict(f) for f in flags],
        "group_type_mapping": dict(group_type_mapping or {}),
        "cohorts": dict(cohorts or {}),
    }


def evaluate(
    flag: Mapping[str, Any],
    distinct_id: Any = "user-1",
    *,
    groups: Optional[Mapping[str, Any]] = None,
    person_properties: Optional[Mapping[str, Any]] = None,
    group_properties: Optional[Mapping[str, Mapping[str, Any]]] = None,
    group_type_mapping: Optional[Mapping[str, str]] = None,
    cohorts: Optional[Mapping[str, Any]] = None,
    others: Sequence[Mapping[str, Any]] = (),
) -> Any:
    """Evaluate a built flag with the local core (augmenting properties as the client does).

    Returns the value, or the ``Inconclusive`` result.
    """
    from posthog.feature_flags import FlagDefinitions, augment_properties, evaluate_flag

    snapshot = FlagDefinitions.from_response(definitions([*others, flag], group_type_mapping, cohorts))
    person, by_group = augment_properties(distinct_id, groups or {}, person_properties, group_properties)
    return evaluate_flag(snapshot.by_key[flag["key"]], snapshot, distinct_id, groups or {}, person, by_group)
