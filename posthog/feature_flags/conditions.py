"""The conditions (``filters.groups``) and variants of a flag definition, parsed once (flags.md §2, §3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from .filters import Leaf, parse_leaf

__all__ = ["Condition", "Variant", "broken_condition", "parse_condition", "parse_variants"]


@dataclass(frozen=True)
class Condition:
    """One entry of ``filters.groups``."""

    properties: tuple[Leaf, ...]
    rollout_percentage: object
    threshold: Optional[float]  # rollout_percentage / 100; None means no rollout restriction
    variant: object  # as received
    variant_override: object  # the variant to return on match, when it is one of the flag's variants
    error: Optional[str] = None  # raised before the properties are checked
    rollout_error: Optional[str] = None  # raised when the rollout check is reached


@dataclass(frozen=True)
class Variant:
    """One multivariate entry with its half-open bucket range ``[value_min, value_max)``."""

    key: Any
    rollout_percentage: object
    value_min: float
    value_max: float


def broken_condition(raw: object) -> Condition:
    """An entry of ``filters.groups`` that is not an object, as a condition that raises when reached."""
    return Condition(
        (), None, None, None, None, error=f"a condition is a {type(raw).__name__}, not an object"
    )


def parse_variants(raw_variants: object) -> tuple[tuple[Variant, ...], Optional[str]]:
    """The variant lookup table (flags.md §2), or ``((), reason)`` when it cannot be built."""
    if not isinstance(raw_variants, list):
        return (), f"multivariate.variants is a {type(raw_variants).__name__}, not a list"
    # The bounds accumulate in double arithmetic exactly as 3.x computes them.
    variants: list[Variant] = []
    value_min: Any = 0
    for raw in raw_variants:
        if not isinstance(raw, dict) or "key" not in raw:
            return (), "a variant is not an object with a key"
        if "rollout_percentage" not in raw:
            return (), "a variant has no rollout_percentage"
        percentage = raw["rollout_percentage"]
        try:
            value_max = value_min + percentage / 100
            _ = value_min <= 0.5 < value_max  # the comparison evaluation will make
        except Exception as exc:  # a non-numeric percentage: 3.x fails when it picks a variant
            return (), f"variant rollout_percentage {percentage!r} is not a number ({type(exc).__name__})"
        variants.append(Variant(raw["key"], percentage, value_min, value_max))
        value_min = value_max
    return tuple(variants), None


def parse_condition(raw: Mapping[str, Any], valid_variant_keys: list[Any]) -> Condition:
    """Parse one entry of ``filters.groups`` (flags.md §3)."""
    raw_properties = raw.get("properties") or []
    error = None
    leaves: tuple[Leaf, ...] = ()
    if isinstance(raw_properties, list):
        leaves = tuple(parse_leaf(p, in_cohort=False) for p in raw_properties)
    else:
        error = f"condition properties is a {type(raw_properties).__name__}, not a list"

    percentage = raw.get("rollout_percentage")
    threshold: Optional[float] = None
    rollout_error = None
    if percentage is not None:
        try:
            threshold = percentage / 100
            _ = threshold < 0.5  # the comparison evaluation will make
        except Exception as exc:
            threshold = None
            rollout_error = f"rollout_percentage {percentage!r} is not a number ({type(exc).__name__})"

    variant = raw.get("variant")
    override = variant if variant and variant in valid_variant_keys else None
    return Condition(leaves, percentage, threshold, variant, override, error, rollout_error)
