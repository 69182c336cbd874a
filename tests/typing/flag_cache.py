"""User code of posthog.flag_cache, type-checked by `mypy --strict tests/typing`; never run."""

from __future__ import annotations

from typing import Optional

import redis

from posthog.flag_cache import FlagDefinitionCacheProvider, FlagDefinitionsData, RedisFlagDefinitionCache


class InMemoryCache:
    """A provider written against the protocol, without inheriting from it."""

    def __init__(self) -> None:
        self.data: Optional[FlagDefinitionsData] = None

    def should_fetch_flag_definitions(self) -> bool:
        return self.data is None

    def get_flag_definitions(self) -> Optional[FlagDefinitionsData]:
        return self.data

    def on_flag_definitions_received(self, data: FlagDefinitionsData) -> None:
        self.data = data

    def shutdown(self) -> None:
        self.data = None


def providers() -> list[FlagDefinitionCacheProvider]:
    from_url = RedisFlagDefinitionCache(url="redis://localhost:6379/0", api_key="phc_key", lock_ttl=60)
    from_client = RedisFlagDefinitionCache(redis.Redis(), api_key="phc_key", service_key="worker")
    leading: bool = from_url.is_leader
    ttl: float = from_client.lock_ttl + from_client.data_ttl
    del leading, ttl
    return [from_url, from_client, InMemoryCache()]


def read(provider: FlagDefinitionCacheProvider) -> int:
    data = provider.get_flag_definitions()
    if data is None:
        return 0
    etag: Optional[str] = data.get("etag")
    del etag
    return len(data.get("flags", []))


def store(provider: FlagDefinitionCacheProvider) -> None:
    data: FlagDefinitionsData = {
        "flags": [{"key": "beta"}],
        "group_type_mapping": {},
        "cohorts": {},
        "etag": None,
    }
    provider.on_flag_definitions_received(data)
