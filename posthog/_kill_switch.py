"""``POSTHOG_DISABLED``: the environment switch that turns every client off, read on each call."""

from __future__ import annotations

import os
from typing import Any, Final

__all__ = ["ENV_DATA", "ENV_KEY", "env_disabled", "env_maybe_set"]

_KILL_SWITCH: Final = "POSTHOG_DISABLED"
_TRUTHY: Final = frozenset({"1", "true", "yes", "on"})
# The environment as os.environ keeps it (CPython: a dict of encoded keys and values), for a
# lookup cheap enough to make on every call; os.environ itself is the fallback.
_ENV_DATA: Any = getattr(os.environ, "_data", None)
_ENV_KEY: Any = getattr(os.environ, "encodekey", lambda key: key)(_KILL_SWITCH)
#: for a caller's inlined quick check: ``ENV_DATA is not None and ENV_KEY not in ENV_DATA``
#: means the variable is surely absent (:func:`env_maybe_set`)
ENV_DATA: Final[Any] = _ENV_DATA
ENV_KEY: Final[Any] = _ENV_KEY


def env_disabled() -> bool:
    """Whether ``POSTHOG_DISABLED`` is set to a true value right now."""
    if _ENV_DATA is not None:
        raw = _ENV_DATA.get(_ENV_KEY)
        if raw is None:
            return False
        value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    else:  # pragma: no cover - interpreters without os.environ._data
        value = os.environ.get(_KILL_SWITCH, "")
    return value.strip().lower() in _TRUTHY


def env_maybe_set() -> bool:
    """False when ``POSTHOG_DISABLED`` is surely absent (the quick check before :func:`env_disabled`)."""
    return _ENV_DATA is None or _ENV_KEY in _ENV_DATA
