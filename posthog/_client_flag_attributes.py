"""What the flag methods of ``Client`` and ``AsyncPosthog`` share: the argument check of every
flag call and the 3.x flag attributes (definitions as received, the poller, the reported calls).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Optional

from ._validation import require_id, require_mapping, require_str
from .contexts import _current
from .exceptions import InvalidTypeError

if TYPE_CHECKING:
    from .feature_flags.resolver import FlagResolver

__all__ = ["NO_GROUPS", "FlagAttributes", "check_flag_call"]

#: ``groups`` when none are given (shared: never modified)
NO_GROUPS: Final[Mapping[str, Any]] = MappingProxyType({})


def check_flag_call(key: Any, distinct_id: Any, groups: Any) -> None:
    """The argument checks of every flag call (quick for the usual types)."""
    if type(key) is not str:
        require_str("key", key)
    if type(distinct_id) is not str:
        if distinct_id is None and _current.get() is not None:
            raise InvalidTypeError(
                "distinct_id is None and the current context has none: pass distinct_id, or call "
                "identify_context() first (a flag needs a person; events without one are personless)"
            )
        require_id("distinct_id", distinct_id)
    if groups is not None and type(groups) is not dict:
        require_mapping("groups", groups)


class FlagAttributes:
    """The 3.x flag attributes (definitions as received, the poller, the reported-calls memory)."""

    _flags: FlagResolver
    disabled: bool

    @property
    def feature_flags(self) -> Optional[list[dict[str, Any]]]:
        """The flag definitions as received (``None`` before the first load)."""
        return self._flags.source.raw_flags()

    @feature_flags.setter
    def feature_flags(self, flags: Optional[list[dict[str, Any]]]) -> None:
        self._flags.source.set_flags(flags)

    @property
    def feature_flags_by_key(self) -> Optional[dict[str, dict[str, Any]]]:
        """Flag definitions by key."""
        return self._flags.source.raw_flags_by_key()

    @property
    def group_type_mapping(self) -> Optional[dict[str, Any]]:
        """Group type index (as a string) to group type name."""
        return self._flags.source.raw_group_type_mapping()

    @group_type_mapping.setter
    def group_type_mapping(self, mapping: Optional[dict[str, Any]]) -> None:
        self._flags.source.set_group_type_mapping(mapping)

    @property
    def cohorts(self) -> Optional[dict[str, Any]]:
        """Cohort definitions by id (as a string)."""
        return self._flags.source.raw_cohorts()

    @cohorts.setter
    def cohorts(self, cohorts: Optional[dict[str, Any]]) -> None:
        self._flags.source.set_cohorts(cohorts)

    @property
    def poller(self) -> Any:
        """The background definitions poller, if running."""
        return self._flags.poller

    @property
    def distinct_ids_feature_flags_reported(self) -> Any:
        """The bounded memory of ``$feature_flag_called`` events already sent."""
        return self._flags.called_events

    def feature_flag_definitions(self) -> Optional[list[dict[str, Any]]]:
        """The current flag definitions list."""
        return self._flags.source.raw_flags()
