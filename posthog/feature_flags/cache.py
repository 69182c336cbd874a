"""The on-disk copy of fetched flag definitions, so a short-lived process can start warm.

A cache file is used only for the project (api key) that wrote it and only while it is younger
than ``CACHE_MAX_AGE_SECONDS``; the poller then revalidates it with ``If-None-Match``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Final, Optional, Union

__all__ = ["CACHE_MAX_AGE_SECONDS", "PathLike", "load_json_file", "read_cache", "write_cache"]

log = logging.getLogger("posthog")

#: A definitions cache file older than this is not used at start-up.
CACHE_MAX_AGE_SECONDS: Final = 3600.0

PathLike = Union[str, "os.PathLike[str]"]


def load_json_file(path: PathLike) -> Any:
    """Parse a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_cache(path: PathLike, api_key: str) -> Optional[tuple[Any, Optional[str]]]:
    """The cached definitions body and its ETag, or None when absent, foreign, stale or broken."""
    try:
        cached = load_json_file(path)
        if cached.get("api_key") != api_key:
            log.info("flag definitions cache %s belongs to another project; not used", path)
            return None
        age = time.time() - float(cached["fetched_at"])
        if age > CACHE_MAX_AGE_SECONDS:
            log.info("flag definitions cache %s is %.0fs old; not used", path, age)
            return None
        return cached["definitions"], cached.get("etag")
    except FileNotFoundError:
        return None
    except Exception as exc:  # a broken cache file is just not used
        log.warning("could not read the flag definitions cache %s: %s", path, exc)
        return None


def write_cache(path: PathLike, api_key: str, etag: Optional[str], body: Any) -> None:
    """Replace the cache file atomically (never raises)."""
    tmp = f"{os.fspath(path)}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"api_key": api_key, "fetched_at": time.time(), "etag": etag, "definitions": body}, fh)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not write the flag definitions cache %s: %s", path, exc)
