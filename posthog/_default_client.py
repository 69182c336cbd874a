"""The facade's default client: built from the module settings (``posthog.api_key`` ...) on first use."""

from __future__ import annotations

import threading
from types import ModuleType
from typing import TYPE_CHECKING, Optional

from . import contexts
from ._options import FACADE_SETTINGS
from ._package import facade

if TYPE_CHECKING:
    from .client import Client

__all__ = ["default", "existing_default", "lock"]

#: Held while the default client is created or swapped (the testing fixture swaps it).
lock = threading.Lock()


_facade: Optional[ModuleType] = None


def _find_facade() -> ModuleType:
    global _facade
    _facade = facade()  # looked up once: this runs on every facade call
    return _facade


def default() -> Client:
    """``posthog.default_client``, created once (under a lock) from the module settings.

    ``disabled`` and ``debug`` are re-applied on every call, as in 3.x, so toggling them works.
    """
    package = _facade or _find_facade()
    client: Client = package.default_client
    if not client:
        with lock:
            client = package.default_client
            if not client:
                settings = {name: getattr(package, name) for name in FACADE_SETTINGS}
                # posthog.Client as the facade has it now (tests and apps may replace it).
                client = package.Client(
                    **settings, flag_definition_cache_provider=package.flag_definition_cache_provider
                )
                setattr(package, "default_client", client)  # noqa: B010 - a module attribute
    client.disabled = package.disabled
    client.debug = package.debug
    return client


def existing_default() -> Optional[Client]:
    """``posthog.default_client`` if it exists or the module settings can make one, else None."""
    package = _facade or _find_facade()
    if package.default_client:
        return package.default_client  # type: ignore[no-any-return]
    if package.api_key or package.project_api_key:
        return default()
    return None


contexts.default_client_lookup = existing_default
