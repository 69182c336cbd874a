"""Flag definitions parsed once into an immutable, typed snapshot ready for evaluation.

Flags and the snapshot; their conditions and variants are parsed by :mod:`.conditions`, the
filters inside them by :mod:`.filters`, whose names are re-exported here.

``FlagDefinitions.parse`` turns the local-evaluation JSON (flags.md §1) into frozen objects
whose property filters are pre-parsed: operators resolved, comparison text case-folded,
regexes compiled, numbers and dates parsed. Evaluation (``properties``, ``evaluation``)
then does no parsing per call.

Parsing never raises. A part of a definition that 3.x could not evaluate (wrong types,
missing keys) is recorded as an error string at the place where 3.x would fail; evaluation
raises ``MalformedDefinitionError`` when it reaches that place, so the flag becomes
inconclusive exactly when 3.x would have failed, and every other flag is unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Optional

from .conditions import Condition, Variant, broken_condition, parse_condition, parse_variants
from .dates import DateForm, parse_date_text, parse_relative_date
from .filters import (
    CohortFilter,
    Leaf,
    MalformedDefinitionError,
    MalformedFilter,
    Operator,
    PropertyFilter,
    PropertyGroup,
    cohorts_in_cycles,
    parse_cohort,
    parse_leaf,
    parse_property_filter,
    parse_property_group,
    warn_once,
)

__all__ = [
    "EMPTY_DEFINITIONS",
    "CohortFilter",
    "Condition",
    "DateForm",
    "FlagDefinition",
    "FlagDefinitions",
    "Leaf",
    "MalformedDefinitionError",
    "MalformedFilter",
    "Operator",
    "PropertyFilter",
    "PropertyGroup",
    "Variant",
    "parse_condition",
    "parse_date_text",
    "parse_flag",
    "parse_leaf",
    "parse_property_filter",
    "parse_property_group",
    "parse_relative_date",
    "parse_variants",
]

log = logging.getLogger("posthog")


@dataclass(frozen=True)
class FlagDefinition:
    """One flag, ready to evaluate; see ``evaluation.evaluate_flag``."""

    key: str
    active: bool
    ensure_experience_continuity: bool
    aggregation_group_type_index: object
    group_type_key: Optional[str]  # str(aggregation_group_type_index), None for person flags
    conditions: tuple[Condition, ...]  # variant-override conditions first (stable)
    variants: tuple[Variant, ...]
    variant_keys: frozenset[Any]
    payloads: Mapping[Any, Any]
    raw: Mapping[str, Any]
    error: Optional[str] = None  # raised right after the active check
    conditions_error: Optional[str] = None  # raised when the conditions are about to be evaluated
    variants_error: Optional[str] = None  # raised when a variant has to be picked by hash
    #: the conditions in the order received (the 7.x pass does not move variant overrides first)
    conditions_received: tuple[Condition, ...] = field(default=(), compare=False, repr=False)
    #: decided by its conditions alone (active, no known error, no continuity)
    plain: bool = field(default=False, compare=False, repr=False)
    #: a plain person flag
    plain_person: bool = field(default=False, compare=False, repr=False)
    #: ``conditions_error`` is 3.25.0's alone: 7.x reads ``conditions_received`` in order
    newer_only_conditions: bool = field(default=False, compare=False, repr=False)
    #: the 7.x pass's plan, made on first use (:func:`.newer_plan.plan_for`)
    newer_plan: object = field(default=None, compare=False, repr=False)
    #: the conditions as one function, made on first use (:func:`.compiled.conditions_of`)
    compiled: Any = field(default=None, compare=False, repr=False)
    #: a person flag's two passes as one function, made on first use (:mod:`.whole_code`)
    whole: Any = field(default=None, compare=False, repr=False)
    #: the whole single-flag call as one function, made on first use (:mod:`.single_code`)
    single: Any = field(default=None, compare=False, repr=False)
    #: neither pass can decide it, whatever the context: malformed as a whole, or aggregated by
    #: a group type the snapshot's mapping does not name (set by :meth:`FlagDefinitions.parse`)
    undecidable: bool = field(default=False, compare=False, repr=False)
    #: ``undecidable``, and its first evaluation has logged why: later ones return at once
    known_undecided: bool = field(default=False, compare=False, repr=False)

    def settle(self) -> None:
        """Mark an undecidable flag as known, once its first evaluation has logged why."""
        if self.undecidable:
            object.__setattr__(self, "known_undecided", True)

    def __post_init__(self) -> None:
        plain = self.active and self.error is None and not self.ensure_experience_continuity
        object.__setattr__(self, "plain", plain)
        object.__setattr__(self, "plain_person", plain and self.group_type_key is None)

    @property
    def is_malformed(self) -> bool:
        """Whether some part of this flag cannot be evaluated locally."""
        return (
            self.error is not None
            or self.conditions_error is not None
            or self.variants_error is not None
            or any(c.error is not None or c.rollout_error is not None for c in self.conditions)
        )


_EMPTY_MAPPING: Final[Mapping[Any, Any]] = MappingProxyType({})


@dataclass(frozen=True)
class FlagDefinitions:
    """An immutable snapshot of the local-evaluation definitions; swap the whole object to update."""

    flags: tuple[FlagDefinition, ...]
    by_key: Mapping[str, FlagDefinition]
    group_type_mapping: Mapping[str, str]
    cohorts: Mapping[str, PropertyGroup]
    raw_flags: list[dict[str, Any]] = field(default_factory=list)
    raw_group_type_mapping: dict[str, Any] = field(default_factory=dict)
    raw_cohorts: dict[str, Any] = field(default_factory=dict)
    #: keys of the flags whose filters (or cohorts) read the person property ``distinct_id``
    reads_distinct_id: frozenset[str] = frozenset()
    #: ``by_key`` and ``cohorts`` as plain dicts, for evaluation only (never changed)
    flag_table: dict[str, FlagDefinition] = field(default_factory=dict, compare=False, repr=False)
    cohort_table: dict[str, PropertyGroup] = field(default_factory=dict, compare=False, repr=False)
    #: every flag evaluated by one function, written on first use (:mod:`.snapshot_code`)
    all_flags: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(
        cls, flags: object, group_type_mapping: object = None, cohorts: object = None
    ) -> FlagDefinitions:
        """Build a snapshot from the three parts of the response; never raises (``None`` → empty)."""
        raw_flags: list[Any] = _as_container(flags, list, "flags")
        raw_mapping: dict[str, Any] = _as_container(group_type_mapping, dict, "group_type_mapping")
        raw_cohorts: dict[str, Any] = _as_container(cohorts, dict, "cohorts")

        parsed: list[FlagDefinition] = []
        by_key: dict[str, FlagDefinition] = {}
        for raw in raw_flags:
            if not isinstance(raw, dict):
                warn_once("a flag definition", f"it is a {type(raw).__name__}, not an object; skipped")
                continue
            definition = parse_flag(raw)
            parsed.append(definition)
            if isinstance(raw.get("key"), str):
                by_key[definition.key] = definition  # a duplicate key: the last one wins, as in 3.x

        mapping = {k: v for k, v in raw_mapping.items() if isinstance(k, str) and isinstance(v, str)}
        for flag in parsed:  # each parse makes its own definitions: no other snapshot shares them
            if _undecidable(flag, mapping):
                object.__setattr__(flag, "undecidable", True)
        parsed_cohorts = {k: parse_cohort(k, v) for k, v in raw_cohorts.items() if isinstance(k, str)}
        for cohort_id in sorted(cohorts_in_cycles(parsed_cohorts)):
            # Evaluation stops at the cycle (the flag is inconclusive); say so once here.
            warn_once(f"cohort {cohort_id}", "the cohort refers to itself through cohort filters")
        return cls(
            flags=tuple(parsed),
            by_key=MappingProxyType(by_key),
            group_type_mapping=MappingProxyType(mapping),
            cohorts=MappingProxyType(parsed_cohorts),
            raw_flags=raw_flags,
            raw_group_type_mapping=raw_mapping,
            raw_cohorts=raw_cohorts,
            reads_distinct_id=_flags_reading(parsed, parsed_cohorts, "distinct_id"),
            flag_table=by_key,
            cohort_table=parsed_cohorts,
        )

    @classmethod
    def from_response(cls, body: object) -> FlagDefinitions:
        """Build a snapshot from the local-evaluation endpoint body.

        Raises:
            ValueError: ``body`` is not an object or lacks ``flags``, ``group_type_mapping`` or
                ``cohorts`` (3.x treats such a response as a failed load).
        """
        if not isinstance(body, dict):
            raise ValueError(f"flag definitions response must be an object, got {type(body).__name__}")
        missing = [k for k in ("flags", "group_type_mapping", "cohorts") if k not in body]
        if missing:
            raise ValueError(f"flag definitions response lacks {', '.join(missing)}")
        return cls.parse(body["flags"], body["group_type_mapping"], body["cohorts"])


def _undecidable(flag: FlagDefinition, mapping: Mapping[str, str]) -> bool:
    """Whether neither 3.25.0's rules nor 7.x's can decide ``flag`` in any context: an active flag
    that is malformed as a whole, aggregated by a group type the mapping does not name, or a
    person flag whose conditions cannot be read (a group flag is still off without its group)."""
    if not flag.active:
        return False  # off, and decided so
    if flag.error is not None:
        return True
    if flag.group_type_key is not None:
        return flag.group_type_key not in mapping
    return flag.conditions_error is not None and not flag.newer_only_conditions


def _as_container(value: object, kind: type[Any], what: str) -> Any:
    if value is None:
        return kind()
    if not isinstance(value, kind):
        log.warning(
            "[FEATURE FLAGS] %s must be a %s, got %s; ignored", what, kind.__name__, type(value).__name__
        )
        return kind()
    return value


def _flags_reading(
    flags: list[FlagDefinition], cohorts: Mapping[str, PropertyGroup], key: str
) -> frozenset[str]:
    """The keys of the flags that may read the property ``key``, directly or through cohorts."""
    found: set[str] = set()
    for flag in flags:
        pending: list[Any] = [leaf for condition in flag.conditions for leaf in condition.properties]
        seen: set[str] = set()
        while pending:
            item = pending.pop()
            if isinstance(item, PropertyGroup):
                pending.extend(item.groups)
                pending.extend(item.leaves)
            elif isinstance(item, CohortFilter):
                if item.cohort_id not in seen and item.cohort_id in cohorts:
                    seen.add(item.cohort_id)
                    pending.append(cohorts[item.cohort_id])
            elif not isinstance(item, PropertyFilter) or item.key == key:
                found.add(flag.key)  # a malformed leaf: assume the worst
                break
    return frozenset(found)


# --- flags -------------------------------------------------------------------------------


def parse_flag(raw: Mapping[str, Any]) -> FlagDefinition:
    """Parse one flag object (flags.md §3); never raises."""
    raw_key = raw.get("key")
    key = raw_key if isinstance(raw_key, str) else str(raw_key)
    try:
        definition = _parse_flag(key, raw)
    except Exception as exc:  # parsing must never fail; the flag alone becomes inconclusive
        definition = _broken_flag(key, raw, f"unparsable definition ({type(exc).__name__}: {exc})")
    if definition.is_malformed:
        warn_once(f"flag {key!r}", _first_error(definition))
    return definition


def _first_error(definition: FlagDefinition) -> str:
    for reason in (definition.error, definition.conditions_error, definition.variants_error):
        if reason is not None:
            return reason
    for condition in definition.conditions:
        if condition.error is not None:
            return condition.error
        if condition.rollout_error is not None:
            return condition.rollout_error
    return "malformed"


def _broken_flag(key: str, raw: Mapping[str, Any], reason: str) -> FlagDefinition:
    return FlagDefinition(
        key=key,
        active=_truthy(raw, "active"),
        ensure_experience_continuity=_truthy(raw, "ensure_experience_continuity"),
        aggregation_group_type_index=None,
        group_type_key=None,
        conditions=(),
        variants=(),
        variant_keys=frozenset(),
        payloads=_EMPTY_MAPPING,
        raw=raw,
        error=reason,
    )


def _truthy(raw: Mapping[str, Any], name: str) -> bool:
    try:
        return bool(raw.get(name))
    except Exception:  # only reachable with non-JSON objects; parse_flag must not raise
        return False


def _parse_flag(key: str, raw: Mapping[str, Any]) -> FlagDefinition:
    filters = raw.get("filters") or {}
    if not isinstance(filters, dict):
        return _broken_flag(key, raw, f"filters is a {type(filters).__name__}, not an object")

    index = filters.get("aggregation_group_type_index")
    payloads = filters.get("payloads") or {}
    common: dict[str, Any] = {
        "key": key,
        "active": bool(raw.get("active")),
        "ensure_experience_continuity": bool(raw.get("ensure_experience_continuity")),
        "aggregation_group_type_index": index,
        "group_type_key": None if index is None else str(index),
        "payloads": MappingProxyType(payloads) if isinstance(payloads, dict) else _EMPTY_MAPPING,
        "raw": raw,
    }

    raw_conditions = filters.get("groups") or []
    multivariate = filters.get("multivariate") or {}
    problem = None
    raw_variants: Any = []
    if not isinstance(raw_conditions, list):
        problem = f"filters.groups is a {type(raw_conditions).__name__}, not a list"
    elif not all(isinstance(c, dict) for c in raw_conditions):
        return _with_broken_condition(common, raw_conditions, multivariate)
    elif not isinstance(multivariate, dict):
        problem = f"filters.multivariate is a {type(multivariate).__name__}, not an object"
    else:
        raw_variants = multivariate.get("variants") or []
        if not isinstance(raw_variants, list):
            problem = f"multivariate.variants is a {type(raw_variants).__name__}, not a list"
        elif not all(isinstance(v, dict) and "key" in v for v in raw_variants):
            problem = "a variant is not an object with a key"
    if problem is not None:
        empty: dict[str, Any] = {"conditions": (), "variants": (), "variant_keys": frozenset()}
        return FlagDefinition(**common, **empty, conditions_error=problem)

    valid_keys = [v["key"] for v in raw_variants]
    variants, variants_error = parse_variants(raw_variants)
    conditions = [parse_condition(c, valid_keys) for c in raw_conditions]
    # flags.md §3: conditions that name a variant first, stable otherwise.
    order = sorted(range(len(conditions)), key=lambda i: 0 if raw_conditions[i].get("variant") else 1)
    return FlagDefinition(
        **common,
        conditions=tuple(conditions[i] for i in order),
        conditions_received=tuple(conditions),
        variants=variants,
        variant_keys=frozenset(k for k in valid_keys if isinstance(k, Hashable)),
        variants_error=variants_error,
    )


_NOT_AN_OBJECT: Final = "a condition in filters.groups is not an object"


def _with_broken_condition(
    common: dict[str, Any], raw_conditions: list[Any], multivariate: Any
) -> FlagDefinition:
    """A flag with a condition that is not an object: 3.25.0 cannot evaluate any of it
    (``conditions_error``); 7.x evaluates the conditions in order and gives up only when it
    reaches that one (``conditions_received`` holds it as a condition with an error)."""
    raw_variants = multivariate.get("variants") or [] if isinstance(multivariate, dict) else None
    if not isinstance(raw_variants, list) or not all(
        isinstance(v, dict) and "key" in v for v in raw_variants
    ):
        empty: dict[str, Any] = {"conditions": (), "variants": (), "variant_keys": frozenset()}
        return FlagDefinition(**common, **empty, conditions_error=_NOT_AN_OBJECT)
    valid_keys = [v["key"] for v in raw_variants]
    variants, variants_error = parse_variants(raw_variants)
    received = tuple(
        parse_condition(c, valid_keys) if isinstance(c, dict) else broken_condition(c) for c in raw_conditions
    )
    return FlagDefinition(
        **common,
        conditions=(),
        conditions_received=received,
        variants=variants,
        variant_keys=frozenset(k for k in valid_keys if isinstance(k, Hashable)),
        variants_error=variants_error,
        conditions_error=_NOT_AN_OBJECT,
        newer_only_conditions=True,
    )


# --- property groups and filters ---------------------------------------------------------


EMPTY_DEFINITIONS: Final[FlagDefinitions] = FlagDefinitions.parse(None)
