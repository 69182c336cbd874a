"""The shape of shared flag definitions (a leaf module: the package and its providers import it)."""

from __future__ import annotations

from typing import Any, Optional, TypedDict

__all__ = ["FlagDefinitionsData"]


class FlagDefinitionsData(TypedDict, total=False):
    """Flag definitions as the local evaluation API returns them, plus the ETag of that answer."""

    #: the flag definitions (``flags`` of the API answer)
    flags: list[dict[str, Any]]
    #: group type index (as a string) to group type name
    group_type_mapping: dict[str, str]
    #: cohort id (as a string) to cohort definition
    cohorts: dict[str, Any]
    #: our extension: the ETag of the fetch, so that a new leader's first poll can be conditional
    etag: Optional[str]
