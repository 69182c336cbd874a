"""The client settings flag resolution reads, in one object the client writes through to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, TypeVar, overload

from .._kill_switch import env_disabled

__all__ = ["Emit", "FlagSettings", "Setting"]

#: How a resolver sends ``$feature_flag_called``: ``emit(distinct_id, event, properties, groups,
#: disable_geoip)`` (the client's ``capture``, held weakly).
Emit = Callable[[Any, str, dict[str, Any], Optional[Any], Optional[bool]], Any]


@dataclass
class FlagSettings:
    """What flags need of a client's settings; assigning the client's attribute updates it."""

    api_key: str
    personal_api_key: Optional[str] = None
    poll_interval: float = 30
    feature_flags_request_timeout_seconds: float = 3
    disable_geoip: bool = True
    debug: bool = False
    disabled: bool = False
    send: bool = True

    def is_disabled(self) -> bool:
        """``disabled``, or ``POSTHOG_DISABLED`` in the environment now."""
        return self.disabled or env_disabled()


T = TypeVar("T")


class Setting(Generic[T]):
    """A client attribute kept in the client's :class:`FlagSettings` (3.x code may assign it)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: Optional[type] = None) -> Setting[T]: ...

    @overload
    def __get__(self, obj: object, owner: Optional[type] = None) -> T: ...

    def __get__(self, obj: Optional[object], owner: Optional[type] = None) -> Any:
        if obj is None:
            return self
        return getattr(obj._flag_settings, self.name)  # type: ignore[attr-defined]

    def __set__(self, obj: object, value: T) -> None:
        setattr(obj._flag_settings, self.name, value)  # type: ignore[attr-defined]
