"""Share flag definitions across a fleet: one process polls PostHog, the others read a shared cache.

Pass a provider as ``flag_definition_cache_provider`` to the client. Before each poll the client
calls :meth:`FlagDefinitionCacheProvider.should_fetch_flag_definitions`; the process that gets True
(the leader) fetches from the API and hands the result to
:meth:`~FlagDefinitionCacheProvider.on_flag_definitions_received`; every other process reads it
with :meth:`~FlagDefinitionCacheProvider.get_flag_definitions`.

``RedisFlagDefinitionCache`` is the ready-made provider (``pip install 'posthog[redis]'``);
importing this package does not import ``redis``.
"""

from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

from ._data import FlagDefinitionsData
from ._redis import RedisFlagDefinitionCache

__all__ = ["FlagDefinitionCacheProvider", "FlagDefinitionsData", "RedisFlagDefinitionCache"]


@runtime_checkable
class FlagDefinitionCacheProvider(Protocol):
    """Where a fleet of processes shares its flag definitions (posthog 7.x's interface).

    The client calls these methods from its poller thread (``shutdown`` from the thread that
    shuts the client down). A method that raises means "fetch from the API" to the client, which
    logs it; a broken cache never breaks flag evaluation.
    """

    def should_fetch_flag_definitions(self) -> bool:
        """Called before each poll: True means this process fetches from the API (it leads).

        Typically a lock that the leader keeps (and extends) from poll to poll.
        """
        ...

    def get_flag_definitions(self) -> Optional[FlagDefinitionsData]:
        """Called instead of fetching when not leading: the cached definitions, or None if none."""
        ...

    def on_flag_definitions_received(self, data: FlagDefinitionsData) -> None:
        """Called after every successful fetch to store ``data``.

        Also called after a 304 "not modified" answer with the current data, so that the cache's
        expiry is refreshed.
        """
        ...

    def shutdown(self) -> None:
        """Release whatever is held (the leader lock); called at client shutdown even if never led."""
        ...
