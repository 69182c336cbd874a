"""Wrapped provider clients: the provider's own client, with some resources swapped for ours."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Proxy", "Reporting"]


class Proxy:
    """Passes every attribute through to the provider's resource, except those it defines."""

    def __init__(self, original: Any, owner: Any) -> None:
        self._original = original
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class Reporting:
    """Mixin for a provider client class: ``Client(posthog_client, **provider_kwargs)``.

    Subclasses set ``_ph_async`` and implement :meth:`_wrap_resources`.
    """

    _ph_async: ClassVar[bool] = False

    def __init__(self, posthog_client: Any = None, **kwargs: Any) -> None:
        if posthog_client is None:
            raise ValueError("posthog_client is required")
        super().__init__(**kwargs)
        self._ph_client = posthog_client
        self._wrap_resources()

    def _wrap_resources(self) -> None:
        raise NotImplementedError
