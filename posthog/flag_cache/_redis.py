"""``RedisFlagDefinitionCache``: a leader lock and the shared definitions in two Redis keys.

``redis`` is imported only when an instance is built, so that ``import posthog`` never needs it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import threading
from typing import TYPE_CHECKING, Any, Optional

from ..exceptions import InvalidTypeError, InvalidValueError
from ..feature_flags.fleet import usable_definitions

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

    from ._data import FlagDefinitionsData

__all__ = ["RedisFlagDefinitionCache"]

log = logging.getLogger("posthog")

# KEYS[1] = lock key, ARGV[1] = our token, ARGV[2] = TTL in ms. Owner-only, atomic.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def _seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidTypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise InvalidValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


def _name(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidValueError(f"{name} must not be empty")
    return value


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisFlagDefinitionCache:
    """A :class:`~posthog.flag_cache.FlagDefinitionCacheProvider` backed by Redis.

    One process of the fleet holds a lock key (``SET NX PX lock_ttl``) and fetches from PostHog; it
    extends the lock at every poll and releases it at shutdown (both owner-only, by a random
    token). The others read the definitions it stored under the data key (``PX data_ttl``). If the
    leader dies, another process takes over once the lock expires, so ``lock_ttl`` should exceed
    the client's poll interval.

    Give either a ``url`` or a ``client``. The client built from a ``url`` has no automatic retries,
    so ``socket_timeout`` bounds every call. A ``client`` is used as configured and never closed
    here; redis-py's default of 10 retries with backoff can hold the poller for many timeouts when
    Redis is down, so give it ``retry=Retry(NoBackoff(), 0)`` and a short timeout. Keys are namespaced
    by the project ``api_key`` and ``service_key``. Redis errors raise to the caller, which then
    fetches from the API; ``shutdown`` never raises.
    """

    def __init__(
        self,
        client: Optional[redis.Redis] = None,
        *,
        url: Optional[str] = None,
        api_key: str,
        service_key: str = "default",
        data_ttl: float = 3600.0,
        lock_ttl: float = 60.0,
        socket_timeout: float = 0.5,
        key_prefix: str = "posthog:flag_definitions",
    ) -> None:
        if (client is None) == (url is None):
            raise InvalidValueError("RedisFlagDefinitionCache needs exactly one of client or url")
        _name("api_key", api_key)
        _name("service_key", service_key)
        _name("key_prefix", key_prefix)
        self.data_ttl = _seconds("data_ttl", data_ttl)
        self.lock_ttl = _seconds("lock_ttl", lock_ttl)
        socket_timeout = _seconds("socket_timeout", socket_timeout)
        if client is None:
            client = _client_from_url(url, socket_timeout)
            self._owns_client = True
        else:
            if not all(callable(getattr(client, m, None)) for m in ("get", "set", "register_script")):
                raise InvalidTypeError(f"client must be a redis.Redis client, not {type(client).__name__}")
            self._owns_client = False
        self._redis = client
        self._service_key = service_key
        base = f"{key_prefix}:{api_key}:{service_key}"
        self.data_key = f"{base}:data"
        self.lock_key = f"{base}:lock"
        self._token = secrets.token_hex(16)
        self._extend: Script = client.register_script(_EXTEND)
        self._release: Script = client.register_script(_RELEASE)
        self._leader = False
        # a lock call failed: the lock may be ours all the same (the next call extends it if so)
        self._unsure = False
        self._closed = False
        self._state = threading.Lock()  # orders lock changes between the poller and shutdown
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        """A forked child is another member of the fleet: its own token, not leading."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._state = threading.Lock()
            self._token = secrets.token_hex(16)
            self._leader = self._unsure = False

    @property
    def is_leader(self) -> bool:
        """Whether this instance believes it holds the lock (as of its last call)."""
        return self._leader

    def should_fetch_flag_definitions(self) -> bool:
        """Extend the lock if ours, else try to take it; True if this instance holds it now."""
        self._after_fork()
        with self._state:
            if self._closed:
                return False
            ttl_ms = _ms(self.lock_ttl)
            was_leader, try_extend = self._leader, self._leader or self._unsure
            # until Redis answers: an error leaves us not leading, unsure whether the lock is ours
            self._leader, self._unsure = False, True
            if try_extend:
                if self._extend(keys=[self.lock_key], args=[self._token, ttl_ms]) == 1:
                    self._leader, self._unsure = True, False
                    return True
                if was_leader:
                    log.debug("flag definitions lock %s was lost; trying to take it again", self.lock_key)
            self._leader = bool(self._redis.set(self.lock_key, self._token, nx=True, px=ttl_ms))
            self._unsure = False
            return self._leader

    def get_flag_definitions(self) -> Optional[FlagDefinitionsData]:
        """The stored definitions, or None when there are none (or they are unusable)."""
        raw = self._redis.get(self.data_key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:  # includes undecodable bytes
            data = None
        if not _usable(data):
            log.debug("ignoring unusable flag definitions in Redis key %s", self.data_key)
            return None
        result: FlagDefinitionsData = data
        return result

    def on_flag_definitions_received(self, data: FlagDefinitionsData) -> None:
        """Store ``data`` (with its ETag, if any) for ``data_ttl`` seconds; the lock is kept."""
        stored: dict[str, Any] = {
            "flags": data.get("flags") or [],
            "group_type_mapping": data.get("group_type_mapping") or {},
            "cohorts": data.get("cohorts") or {},
        }
        if data.get("etag") is not None:
            stored["etag"] = data["etag"]
        payload = json.dumps(stored, separators=(",", ":"))
        self._redis.set(self.data_key, payload, px=_ms(self.data_ttl))

    def shutdown(self) -> None:
        """Release the lock if this instance holds it; close a client built from ``url``. Never raises."""
        self._after_fork()
        with self._state:
            self._closed = True
            held = self._leader or self._unsure
            self._leader = self._unsure = False
            if held:
                try:
                    self._release(keys=[self.lock_key], args=[self._token])
                except Exception as exc:  # it expires by itself after lock_ttl
                    log.debug("could not release the flag definitions lock %s: %s", self.lock_key, exc)
            if self._owns_client:
                try:
                    self._redis.close()
                except Exception as exc:
                    log.debug("could not close the flag definitions Redis client: %s", exc)

    def __repr__(self) -> str:
        return f"<RedisFlagDefinitionCache service_key={self._service_key!r} leader={self._leader}>"


def _usable(data: Any) -> bool:
    etag = data.get("etag") if isinstance(data, dict) else None
    return usable_definitions(data) and (etag is None or isinstance(etag, str))


def _client_from_url(url: Optional[str], socket_timeout: float) -> redis.Redis:
    """A client without automatic retries: every call is bounded by about ``socket_timeout``."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    url = _name("url", url)
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
        )
    except ValueError as exc:
        raise InvalidValueError(f"url is not a usable Redis URL: {exc}") from exc
