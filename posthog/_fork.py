"""Run a method in forked children without keeping its object alive."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["on_fork_in_child"]


def on_fork_in_child(method: Callable[[], Any]) -> None:
    """Call the bound ``method`` in every forked child while its object is alive.

    The hook holds a weak reference: a fork hook must never keep a client alive.
    """
    if not hasattr(os, "register_at_fork"):  # pragma: no cover - Windows
        return
    ref = weakref.WeakMethod(method)

    def _hook() -> None:
        bound = ref()
        if bound is not None:
            try:
                bound()
            except Exception:  # a failing hook must not break the child
                pass

    os.register_at_fork(after_in_child=_hook)
