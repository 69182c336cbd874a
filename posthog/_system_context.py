"""System properties: ``$python_runtime``, ``$python_version``, ``$os``, ``$os_version``; once per process."""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

__all__ = ["system_context", "system_properties_copy"]


def _linux_version() -> str:
    # What `distro` reports: VERSION_ID from os-release, without depending on it.
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    name, _, value = line.strip().partition("=")
                    if name == "VERSION_ID":
                        return value.strip().strip("\"'")
        except OSError:
            continue
        return ""
    return ""


def _os_name_and_version() -> tuple[str, str]:
    plat = sys.platform
    try:
        if plat.startswith("win"):
            return "Windows", platform.win32_ver()[0]
        if plat == "darwin":
            return "Mac OS X", platform.mac_ver()[0]
        if plat.startswith("linux"):
            return "Linux", _linux_version()
        if plat.startswith("freebsd"):
            return "FreeBSD", platform.release()
        return plat, platform.release()
    except Exception:  # platform probing must never break capture
        return plat, ""


@lru_cache(maxsize=1)
def system_context() -> Mapping[str, str]:
    """The read-only system properties added to every ``capture`` event."""
    return MappingProxyType(_system_properties())


@lru_cache(maxsize=1)
def _system_properties() -> dict[str, str]:
    os_name, os_version = _os_name_and_version()
    info = sys.version_info
    return {
        "$python_runtime": platform.python_implementation(),
        "$python_version": f"{info.major}.{info.minor}.{info.micro}",
        "$os": os_name,
        "$os_version": os_version or "",
    }


def system_properties_copy() -> dict[str, str]:
    """A new dict of the system properties (the hot path of ``capture``)."""
    return _system_properties().copy()
