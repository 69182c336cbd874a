"""Which variant of a multivariate flag a bucketing id gets (flags.md §2), for both passes."""

from __future__ import annotations

from typing import Any

from .definitions import FlagDefinition, MalformedDefinitionError
from .hashing import hash_bucket

__all__ = ["select_variant"]


def select_variant(flag: FlagDefinition, bucketing_id: object) -> Any:
    """The variant whose bucket range holds the variant hash, or None (flags.md §2)."""
    if flag.variants_error is not None:
        raise MalformedDefinitionError(flag.variants_error)
    variants = flag.variants
    if not variants:
        return None
    bucket = hash_bucket(flag.key, bucketing_id, "variant")
    for variant in variants:
        if variant.value_min <= bucket < variant.value_max:
            return variant.key
    return None
