"""Deterministic rollout buckets: a flag key and a bucketing id mapped to a float in [0, 1]."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from struct import Struct
from typing import Any, Final

__all__ = ["LONG_SCALE", "bucket_memo", "hash_bucket", "memo_bucket"]


def _fastest_sha1() -> Callable[[bytes], Any]:
    try:  # CPython's built-in SHA-1 sets up faster than OpenSSL's for inputs this short.
        sha1: Callable[[bytes], Any] = importlib.import_module("_sha1").sha1
    except (ImportError, AttributeError):  # pragma: no cover - other interpreters
        return hashlib.sha1
    return sha1


_sha1: Final = _fastest_sha1()
_FIRST_8_BYTES: Final = Struct(">Q").unpack_from

# 0xFFFFFFFFFFFFFFF (15 hex digits) as a double; it rounds to exactly 2**60.
LONG_SCALE: Final[float] = float(0xFFFFFFFFFFFFFFF)

# The same (flag, id) pairs are hashed again and again (every request of a user, every capture
# with flag enrichment); SHA-1 is most of a simple flag's cost. Bounded: cleared when full.
_CACHE: dict[str, float] = {}
_CACHE_LIMIT: Final = 16_384


def hash_bucket(flag_key: str, bucketing_id: object, salt: str = "") -> float:
    """Return the bucket of ``bucketing_id`` for ``flag_key`` (flags.md §2).

    The bucket is the first 15 hex digits of SHA-1(``f"{flag_key}.{bucketing_id}{salt}"``)
    read as an integer, divided by ``LONG_SCALE`` in double precision.
    """
    text = f"{flag_key}.{bucketing_id}{salt}"
    bucket = _CACHE.get(text)
    if bucket is None:
        bucket = _bucket_of(text)
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[text] = bucket
    return bucket


def _bucket_of(text: str) -> float:
    # The first 15 hex digits are the top 60 bits of the first 8 bytes.
    value: int = _FIRST_8_BYTES(_sha1(text.encode()).digest())[0] >> 4
    return value / LONG_SCALE


# One flag's buckets by bucketing id, for the compiled flags: a lookup by the caller's own id
# (whose hash Python keeps) instead of formatting the text to look up. Only str and int ids are
# kept, and looked up: 1, 1.0 and True are equal keys but spell different texts. Bounded:
# cleared when full.
_MEMOS: dict[tuple[str, str], dict[Any, float]] = {}
_MEMOS_LIMIT: Final = 4096
_MEMO_LIMIT: Final = 1024


def bucket_memo(flag_key: str, salt: str = "") -> dict[Any, float]:
    """The memo of ``flag_key``'s buckets (with ``salt``): a str or int bucketing id → its bucket,
    filled by :func:`memo_bucket` (flags with the same key share it)."""
    memo = _MEMOS.get((flag_key, salt))
    if memo is None:
        if len(_MEMOS) >= _MEMOS_LIMIT:
            _MEMOS.clear()  # functions holding a memo keep it
        memo = _MEMOS[(flag_key, salt)] = {}
    return memo


def memo_bucket(memo: dict[Any, float], flag_key: str, bucketing_id: object, salt: str = "") -> float:
    """:func:`hash_bucket`, kept in ``memo`` (:func:`bucket_memo`) when the id is a str or an
    int (other ids are kept by their text, as :func:`hash_bucket` keeps them)."""
    if type(bucketing_id) is not str and type(bucketing_id) is not int:
        return hash_bucket(flag_key, bucketing_id, salt)
    bucket = _bucket_of(f"{flag_key}.{bucketing_id}{salt}")
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[bucketing_id] = bucket
    return bucket
