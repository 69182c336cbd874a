"""Deterministic rollout buckets: a flag key and a bucketing id mapped to a float in [0, 1]."""

from __future__ import annotations

from hashlib import sha1
from typing import Final

__all__ = ["LONG_SCALE", "hash_bucket"]

# 0xFFFFFFFFFFFFFFF (15 hex digits) as a double; it rounds to exactly 2**60.
LONG_SCALE: Final[float] = float(0xFFFFFFFFFFFFFFF)


def hash_bucket(flag_key: str, bucketing_id: object, salt: str = "") -> float:
    """Return the bucket of ``bucketing_id`` for ``flag_key`` (flags.md §2).

    The bucket is the first 15 hex digits of SHA-1(``f"{flag_key}.{bucketing_id}{salt}"``)
    read as an integer, divided by ``LONG_SCALE`` in double precision.
    """
    digest = sha1(f"{flag_key}.{bucketing_id}{salt}".encode()).digest()
    # The first 15 hex digits are the top 60 bits of the first 8 bytes.
    return (int.from_bytes(digest[:8], "big") >> 4) / LONG_SCALE
