"""Flag definitions shared across a fleet through a cache provider (``flag_definition_cache_provider``).

Before each poll the resolver asks the provider whether this process fetches (it leads) or reads
what another process stored. A provider that raises, or returns something unusable, means "fetch
from the API": a broken cache never breaks flags. Each kind of trouble is logged once per episode.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["FlagDefinitionsStats", "SharedDefinitions", "usable_definitions"]

log = logging.getLogger("posthog")


@dataclass(frozen=True)
class FlagDefinitionsStats:
    """How this process got its flag definitions.

    ``polls``: requests to the definitions API (``not_modified`` of them answered 304);
    ``cache_reads``: polls answered from the shared cache; ``cache_errors``: provider calls that
    raised or returned something unusable; ``leader``: whether the provider last said this
    process fetches for the fleet.
    """

    polls: int = 0
    not_modified: int = 0
    cache_reads: int = 0
    cache_errors: int = 0
    leader: bool = False


def usable_definitions(data: object) -> bool:
    """Whether cached data looks like definitions (anything else is fetched from the API instead)."""
    if not isinstance(data, Mapping):
        return False
    flags = data.get("flags")
    if not isinstance(flags, list) or not all(
        isinstance(f, dict) and isinstance(f.get("key"), str) for f in flags
    ):
        return False
    return all(
        data.get(name) is None or isinstance(data.get(name), dict)
        for name in ("group_type_mapping", "cohorts")
    )


class SharedDefinitions:
    """Talks to one provider on behalf of a resolver; counts what happens."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.leader = False
        self._lock = threading.Lock()
        self._counts = {"polls": 0, "not_modified": 0, "cache_reads": 0, "cache_errors": 0}
        self._trouble: Optional[str] = None  # the episode being logged

    @property
    def failing(self) -> bool:
        """Whether the provider is in an episode of trouble."""
        return self._trouble is not None

    def count(self, name: str) -> None:
        """Add one to a counter (``polls``, ``not_modified``, ``cache_reads``, ``cache_errors``)."""
        with self._lock:
            self._counts[name] += 1

    def stats(self) -> FlagDefinitionsStats:
        """A snapshot of the counters."""
        with self._lock:
            return FlagDefinitionsStats(leader=self.leader, **self._counts)

    def _failed(self, what: str, exc: Optional[BaseException]) -> None:
        self.count("cache_errors")
        kind = f"{what}:{type(exc).__name__}"
        if self._trouble != kind:
            self._trouble = kind
            log.warning(
                "[FEATURE FLAGS] flag definitions cache %s failed (%s); fetching definitions from "
                "PostHog directly until it works again",
                what,
                exc if exc is not None else "unusable data",
            )

    def _recovered(self) -> None:
        if self._trouble is not None:
            self._trouble = None
            log.info("[FEATURE FLAGS] flag definitions cache works again")

    def should_fetch(self) -> bool:
        """Whether this process fetches from the API now (True when the provider cannot say)."""
        try:
            lead = bool(self.provider.should_fetch_flag_definitions())
        except Exception as exc:
            self.leader = False
            self._failed("should_fetch_flag_definitions", exc)
            return True
        self.leader = lead
        if lead:
            self._recovered()
        return lead

    def read(self) -> Optional[Mapping[str, Any]]:
        """The cached definitions, or None (empty, unusable, or the provider failed)."""
        try:
            data = self.provider.get_flag_definitions()
        except Exception as exc:
            self._failed("get_flag_definitions", exc)
            return None
        if data is None:
            return None
        if not usable_definitions(data):
            self._failed("get_flag_definitions", None)
            return None
        self._recovered()
        self.count("cache_reads")
        usable: Mapping[str, Any] = data
        return usable

    def store(self, body: Mapping[str, Any], etag: Optional[str]) -> None:
        """Hand freshly fetched (or confirmed) definitions to the provider."""
        data: dict[str, Any] = {
            "flags": body.get("flags") or [],
            "group_type_mapping": body.get("group_type_mapping") or {},
            "cohorts": body.get("cohorts") or {},
        }
        if etag:
            data["etag"] = etag
        try:
            self.provider.on_flag_definitions_received(data)
        except Exception as exc:
            self._failed("on_flag_definitions_received", exc)

    def shutdown(self) -> None:
        """Let the provider release what it holds; never raises."""
        self.leader = False
        try:
            self.provider.shutdown()
        except Exception:  # at shutdown: say it, go on
            log.warning("[FEATURE FLAGS] flag definitions cache shutdown failed", exc_info=True)
