"""AsyncDispatcher: the event pipeline of :class:`~posthog.AsyncPosthog`, driven by an asyncio task.

The queue, outbox, drop accounting and delivery policy are the blocking client's; only the
driver differs. ``put`` never does I/O and works from any thread; the task runs on the loop the
client was first used from (and moves to a new loop if that one has closed). At interpreter exit,
events a client still holds are delivered by the blocking sender, since no loop runs any more.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any, Final, Optional

from .._http.async_transport import AsyncTransport
from .async_sender import AsyncPipeline, AsyncSender, apost_events, encode_waiting
from .dispatcher import DEFAULT_FLUSH_TIMEOUT
from .drops import DropReason
from .encode import CHUNK_EVENTS
from .policy import OneShot

__all__ = ["AsyncDispatcher"]

log = logging.getLogger("posthog")

#: Outbox bytes waiting past which newly encoded chunks are held compressed.
_PACK_ABOVE: Final = 8 * 1024 * 1024
_POLL_MIN: Final = 0.001
_POLL_MAX: Final = 0.02


class AsyncDispatcher(AsyncPipeline):
    """Queue and deliver events from an event loop; awaitable flush and shutdown with deadlines."""

    def __init__(self, *, atransport: AsyncTransport, **settings: Any) -> None:
        settings["sync_mode"] = False
        super().__init__(**settings)
        self.atransport = atransport
        self.pack_above = _PACK_ABOVE
        self.async_sender: Optional[AsyncSender] = None
        self._warned_unclosed = False

    def _after_fork(self) -> None:
        if self._pid == os.getpid():
            return
        super()._after_fork()
        self.async_sender = None

    # --- producers ------------------------------------------------------------------------
    def put(self, msg: dict[str, Any], text: str) -> bool:
        """Queue one message as JSON ``text`` (no I/O, any thread); False if it was dropped."""
        if self._pid != os.getpid():
            self._after_fork()
        if self.shut_down:
            self.drops.record(DropReason.AFTER_SHUTDOWN, [msg], detail="the client was shut down")
            return False
        if not self._queue(msg, text, None):
            return False
        sender = self.async_sender
        if sender is None or sender.done:
            sender = self.bind()
        waiting = self.queue.qsize()
        if waiting >= CHUNK_EVENTS:
            # The loop is busy with the caller: encode here so a burst waits compactly in the
            # outbox (bounded by bytes) instead of filling the queue.
            encode_waiting(self)
        elif sender is not None and sender.idle and (waiting == 1 or waiting >= self.flush_at):
            sender.nudge()
        return True

    def bind(self) -> Optional[AsyncSender]:
        """Start the sender task on the running loop, unless a live one exists; None outside a loop."""
        loop = asyncio._get_running_loop()
        with self._lock:
            sender = self.async_sender
            if sender is not None and not sender.done:
                return sender
            if loop is None:
                return sender
            sender = AsyncSender(self, loop)
            sender.start()
            self.async_sender = sender
            self.sender = None
            return sender

    def _wake_all(self) -> None:
        sender = self.async_sender
        if sender is not None:
            sender.nudge()
        super()._wake_all()

    def release(self) -> None:
        """The client is gone: its task (if its loop runs) delivers what is queued and ends."""
        if not self.shut_down and not self._warned_unclosed:
            self._warned_unclosed = True
            log.warning(
                "AsyncPosthog was garbage-collected without `await client.shutdown()` "
                "(%d event(s) pending); use `async with AsyncPosthog(...)` or shut it down",
                self.pending(),
            )
        self._wind_down()

    def _wind_down(self) -> None:
        """Let the task deliver what is queued and end."""
        self.draining = True
        sender = self.async_sender
        if sender is not None:
            sender.running = False
        self._wake_all()

    # --- awaiting -------------------------------------------------------------------------
    async def _settled(self, target: int, deadline: float) -> bool:
        """Wait until every event up to ``target`` is delivered or dropped, or ``deadline``."""
        pause = _POLL_MIN
        while not self.queue.done_upto(target):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            sender = self.async_sender
            if sender is None or sender.done:
                self.bind()
            await asyncio.sleep(min(pause, remaining))
            pause = min(_POLL_MAX, pause * 2)
        return True

    async def aflush(self, timeout: Optional[float] = None) -> int:
        """Send everything queued before this call; return how many are still pending."""
        if self._pid != os.getpid():
            self._after_fork()
        limit = DEFAULT_FLUSH_TIMEOUT if timeout is None else max(0.0, timeout)
        target = self.queue.last_seq()
        with self._lock:
            self._urgent += 1
        self._wake_all()
        try:
            if await self._settled(target, time.monotonic() + limit):
                return 0
        finally:
            with self._lock:
                self._urgent -= 1
        pending = self.pending()
        log.warning("flush timed out after %.1fs with %d event(s) still pending", limit, pending)
        return pending

    async def ashutdown(self, timeout: Optional[float] = None) -> int:
        """Deliver what is queued within ``timeout``, stop the task, report what is left.

        Idempotent. Returns the number of events dropped because the deadline passed.
        """
        if not self._begin_shutdown():
            return 0
        limit = self.shutdown_timeout if timeout is None else max(0.0, timeout)
        deadline = time.monotonic() + limit
        self._shutdown_deadline = deadline
        self.draining = True
        lost = 0
        if not await self._settled(self.queue.last_seq(), deadline):
            lost = self._give_up(f"still pending after {limit:.1f}s")
        sender = self.async_sender
        if sender is not None:
            sender.running = False
            sender.nudge()
            if sender.task is not None and sender.loop is asyncio.get_running_loop():
                await asyncio.wait({sender.task}, timeout=max(0.05, min(0.5, deadline - time.monotonic())))
        self.drops.log_unreported()
        try:
            await self.atransport.aclose()
        except Exception:  # closing connections must not turn a shutdown into an error
            log.debug("error closing connections", exc_info=True)
        return lost

    async def send_now(self, msg: dict[str, Any], text: str, timeout: Optional[float]) -> bool:
        """POST one message at once with the retry policy, within ``timeout``; False if dropped."""
        if self.shut_down:
            self.drops.record(DropReason.AFTER_SHUTDOWN, [msg], detail="the client was shut down")
            return False
        with self._lock:
            self._sync_queued += 1
        limit = self.timeout if timeout is None else max(0.0, timeout)
        array = ("[" + text + "]").encode("ascii")
        policy = OneShot(self, [msg], time.monotonic() + limit, array=array)
        while True:
            try:
                answer = await apost_events(self, policy.array, policy.v1, policy.timeout())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                wait = policy.failed(exc)
                if wait is None:
                    return False
            else:
                wait = policy.succeeded(answer)
                if wait is None:
                    return policy.delivered > 0
            await asyncio.sleep(wait)

    # --- without a loop -------------------------------------------------------------------
    def shutdown(self, timeout: Optional[float] = None, *, exiting: bool = False) -> int:
        """Blocking shutdown for interpreter exit (no loop runs any more): what is still held is
        delivered by the blocking sender threads within ``timeout``."""
        if self._pid != os.getpid():
            self._after_fork()
        if self.shut_down:
            return 0
        sender = self.async_sender
        alive_elsewhere = (
            sender is not None
            and not sender.done
            and sender.loop.is_running()
            and sender.thread_id != threading.get_ident()
        )
        pending = self.pending()
        if pending and exiting:
            log.warning(
                "AsyncPosthog was not shut down (await client.shutdown()); delivering %d pending "
                "event(s) at interpreter exit",
                pending,
            )
        if alive_elsewhere:
            # Its loop still runs in another thread: let that task finish the work.
            self._wind_down()
            limit = self.shutdown_timeout if timeout is None else max(0.0, timeout)
            self.shut_down = True
            if not self.queue.wait_done(self.queue.last_seq(), limit):
                return self._give_up(f"still pending after {limit:.1f}s at interpreter exit")
            return 0
        if sender is not None:
            sender.running = False
            if sender.task is not None and not sender.loop.is_closed():
                sender.loop.call_soon_threadsafe(sender.task.cancel)
        self.async_sender = None
        if pending:
            self._start()  # the blocking encoder and sender threads
        return super().shutdown(timeout, exiting=exiting)
