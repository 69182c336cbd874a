"""3.x's ``posthog.consumer`` module: the message and batch size limits, and ``Consumer``.

Encoding and sending live in :mod:`posthog._pipeline`; this module keeps 3.x's import path.
"""

from __future__ import annotations

from ._pipeline.consumers import Consumer
from ._pipeline.encode import BATCH_SIZE_LIMIT, MAX_MSG_SIZE

__all__ = ["BATCH_SIZE_LIMIT", "MAX_MSG_SIZE", "Consumer"]
