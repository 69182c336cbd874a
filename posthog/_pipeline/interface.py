"""What the delivery workers need of a client's pipeline (``EventDispatcher``), as a Protocol.

The engine, the encoder, the delivery policy and the exit hook work on a pipeline's queue,
outbox and settings; the dispatcher attaches itself to the engine. Typing them against this interface
rather than the dispatcher keeps the imports one way: the dispatcher imports its workers, never
the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Protocol

from .._http.capture_v1 import CaptureCompression, CaptureMode
from ..request import Transport
from .drops import DropReason, DropRecorder
from .outbox import Chunk, Outbox
from .queue import EventQueue

__all__ = ["Pipeline"]


class _Sender(Protocol):
    @property
    def outage(self) -> bool: ...
    def is_alive(self) -> bool: ...


class Pipeline(Protocol):
    """One client's pipeline: its queue and outbox, settings, drop recorder and deadlines."""

    api_key: str
    ai_endpoint: bool
    capture_mode: CaptureMode
    compression: CaptureCompression
    transport: Transport
    drops: DropRecorder
    flush_at: int
    flush_interval: float
    gzip: bool
    max_retries: int
    historical_migration: bool
    shutdown_timeout: float
    retry_buffer_age: float
    queue: EventQueue
    outbox: Outbox
    draining: bool

    @property
    def sender(self) -> Optional[_Sender]: ...
    @property
    def abandoned(self) -> bool: ...
    @property
    def urgent(self) -> bool: ...
    def can_wait(self, seconds: float) -> bool: ...
    def sleep(self, seconds: float) -> bool: ...
    def request_timeout(self) -> float: ...
    def record_sent(self, count: int) -> None: ...
    def drop_chunks(
        self,
        reason: DropReason,
        chunks: Sequence[Chunk],
        cause: Optional[BaseException] = None,
        detail: str = "",
    ) -> None: ...
    def pending(self) -> int: ...
    def release(self) -> None: ...
    def begin_exit(self, deadline: float) -> None: ...
    def shutdown(self, timeout: Optional[float] = None, *, exiting: bool = False) -> int: ...
