"""The delivery engine: one per process, shared by the pipeline of every blocking client.

A process runs at most ``1 + MAX_SENDERS`` delivery threads however many clients it has:

- one *encoder* (``posthog.consumer``) moves events from each pipeline's queue into its outbox,
  a batch when ``flush_at`` events wait or ``flush_interval`` has passed, round robin across
  pipelines (a burst on one client takes its turn with the others);
- up to ``MAX_SENDERS`` *senders* (``posthog.sender``, started as work appears) make one attempt
  each for the pipeline at the head of a FIFO of due pipelines, then put it back in line. A retry
  wait is a timer, not a sleeping thread, and a pipeline has at most one request in flight, so a
  client whose host never answers holds one sender at a time while the others keep delivering.

Each pipeline keeps its own queue, outbox, settings, delivery policy, drop accounting and
deadlines (:class:`~posthog._pipeline.dispatcher.EventDispatcher`); the engine only decides *when* to work
on which. Its per-pipeline state is a :class:`Lane`. A forked child gets a fresh engine.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Final, Optional

from .._pid import PerProcess
from .drops import DropReason
from .encode import encode_slice
from .outbox import join_arrays
from .policy import HeadDelivery, encode_at, send_at
from .send import post_events

if TYPE_CHECKING:
    from .interface import Pipeline

__all__ = ["MAX_SENDERS", "Engine", "Lane", "engine"]

log = logging.getLogger("posthog")

#: Most sender threads in a process (each carries one request at a time).
MAX_SENDERS: Final = 4
_NEVER: Final = float("inf")


class Lane:
    """One pipeline's place in the engine: when its next batch is encoded and sent.

    Also what ``dispatcher.sender`` is (``outage``, ``nudge``, ``is_alive``), as the thread per
    client used to be.
    """

    def __init__(self, engine: Engine, pipeline: Pipeline) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.policy = HeadDelivery(pipeline)
        #: events taken from the queue and not yet in the outbox (reported if abandoned)
        self.holding: list[str] = []
        self.fill_deadline = 0.0  # when the events waiting in the queue are encoded anyway
        self.linger_from = 0.0  # when the head batch began to wait for more (0: not waiting)
        self.resume_at = 0.0  # when a failed batch is tried again
        self.retrying = False  # the head batch failed and waits for its next attempt
        self.in_flight = False  # a sender is making an attempt
        self.queued = False  # in the senders' line
        self.scheduled = False  # in the encoder's line
        self.timer_at = _NEVER
        self.stopped = False

    @property
    def outage(self) -> bool:
        """Whether the server has refused every attempt for a while (events are being held)."""
        return self.policy.outage

    def nudge(self) -> None:
        """Look at this pipeline now; cut a retry wait short (a flush or shutdown wants an attempt)."""
        self.engine.nudge(self)

    def notify(self) -> None:
        """Events arrived that may complete a batch (called by the queue, on any thread)."""
        self.engine.notify(self)

    def is_alive(self) -> bool:
        """Whether the engine still serves this pipeline (until it is shut down)."""
        return not self.stopped and self.engine.running


class Engine:
    """The process's encoder and senders, and the lines and timers that feed them."""

    def __init__(self, max_senders: int = MAX_SENDERS) -> None:
        self.max_senders = max(1, max_senders)
        self.running = True
        self._lock = threading.Lock()
        self._encoder_wake = threading.Condition(self._lock)
        self._sender_wake = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)  # an attempt ended
        self._ready: deque[Lane] = deque()  # the encoder's line
        self._due: deque[Lane] = deque()  # the senders' line
        self._timers: list[tuple[float, int, Lane]] = []
        self._order = itertools.count()
        self._encoder: Optional[threading.Thread] = None
        self._senders: list[threading.Thread] = []
        self._idle_senders = 0

    # --- any thread -----------------------------------------------------------------------
    def attach(self, pipeline: Pipeline) -> Lane:
        """A lane for ``pipeline``, looked at once now."""
        lane = Lane(self, pipeline)
        self.notify(lane)
        return lane

    def notify(self, lane: Lane) -> None:
        """Put ``lane`` in the encoder's line (once)."""
        with self._lock:
            self._schedule(lane)

    def nudge(self, lane: Lane) -> None:
        """Look at ``lane`` now, its retry wait cut short."""
        with self._lock:
            if lane.retrying and lane.resume_at > time.monotonic():
                lane.resume_at = 0.0
            self._schedule(lane)

    def detach(self, lane: Lane, wait: float) -> None:
        """Stop serving ``lane``; wait up to ``wait`` seconds for an attempt in flight to end."""
        deadline = time.monotonic() + wait
        with self._lock:
            lane.stopped = True
            # Forget it at once (a timer may be minutes away): nothing here keeps a client alive.
            if lane.scheduled:
                self._ready.remove(lane)
                lane.scheduled = False
            if lane.queued:
                self._due.remove(lane)
                lane.queued = False
            if lane.timer_at != _NEVER:
                self._timers = [entry for entry in self._timers if entry[2] is not lane]
                heapq.heapify(self._timers)
                lane.timer_at = _NEVER
            while lane.in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._idle.wait(remaining)

    @property
    def encoder_thread(self) -> Optional[threading.Thread]:
        """The encoder thread, once started."""
        return self._encoder

    # --- under the lock ---------------------------------------------------------------------
    def _schedule(self, lane: Lane) -> None:
        if lane.scheduled or lane.stopped:
            return
        lane.scheduled = True
        self._ready.append(lane)
        if self._encoder is None:
            self._encoder = self._start("posthog.consumer", self._encode_loop)
        self._encoder_wake.notify()

    def _timer(self, lane: Lane, when: float) -> None:
        if when >= lane.timer_at:
            return
        lane.timer_at = when
        heapq.heappush(self._timers, (when, next(self._order), lane))
        self._encoder_wake.notify()

    def _make_due(self, lane: Lane) -> None:
        lane.queued = True
        lane.linger_from = 0.0
        self._due.append(lane)
        if self._idle_senders:
            self._sender_wake.notify()
        # More lanes waiting than idle senders to take them: one more sender (up to the bound),
        # so a lane never waits behind a request that hangs while a thread could be serving it.
        if len(self._due) > self._idle_senders and len(self._senders) < self.max_senders:
            self._senders.append(self._start("posthog.sender", self._send_loop))

    def _start(self, name: str, target: object) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        return thread

    def _fire_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, lane = heapq.heappop(timers)
            if when == lane.timer_at:
                lane.timer_at = _NEVER
                self._schedule(lane)

    # --- the encoder ------------------------------------------------------------------------
    def _encode_loop(self) -> None:
        while True:
            with self._lock:
                while True:
                    self._fire_timers(time.monotonic())
                    if self._ready:
                        break
                    wait = self._timers[0][0] - time.monotonic() if self._timers else None
                    self._encoder_wake.wait(wait)
                lane = self._ready.popleft()
                lane.scheduled = False
            try:
                self._serve(lane)
            except Exception:  # the loop must survive anything (encoding reports its own losses)
                log.exception("unexpected error in the PostHog encoder thread")
                time.sleep(0.05)
            del lane  # a waiting thread must not keep a pipeline (and its client) alive

    def _serve(self, lane: Lane) -> None:
        """Encode what is due, then put the lane in the senders' line or set its next timer."""
        d = lane.pipeline
        if lane.stopped or d.abandoned:
            return
        now = time.monotonic()
        queue = d.queue
        waiting = queue.arm(1)  # the next event wakes the encoder again
        again = False
        hurry = d.urgent or d.draining
        if waiting:
            if not lane.fill_deadline:
                lane.fill_deadline = now + d.flush_interval
            first_seen = lane.fill_deadline - d.flush_interval
            if encode_at(now, waiting, first_seen, d.flush_at, d.flush_interval, hurry) <= now:
                encode_slice(d, lane.holding, waiting)
                lane.holding = []
                waiting = queue.qsize()
                lane.fill_deadline = now + d.flush_interval if waiting else 0.0
                again = (
                    waiting > 0 and encode_at(now, waiting, now, d.flush_at, d.flush_interval, hurry) <= now
                )
            if waiting and not again:
                queue.arm(d.flush_at)  # until the deadline, only a full batch is worth a wake-up
        else:
            lane.fill_deadline = 0.0
        with self._lock:
            if again:
                self._schedule(lane)
            elif waiting:
                self._timer(lane, lane.fill_deadline)
            if not (lane.in_flight or lane.queued) and d.outbox:
                self._plan_send(lane, now)

    def _plan_send(self, lane: Lane, now: float) -> None:
        d = lane.pipeline
        if not lane.linger_from:
            lane.linger_from = now  # the head batch begins to wait for more
        when = send_at(
            now,
            retrying=lane.retrying,
            resume_at=lane.resume_at,
            hurry=d.urgent or d.draining,
            waiting_bytes=d.outbox.waiting_size,
            linger_from=lane.linger_from,
            flush_interval=d.flush_interval,
        )
        if when > now:
            self._timer(lane, when)
        else:
            self._make_due(lane)

    # --- the senders ------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while True:
            with self._lock:
                while not self._due:
                    self._idle_senders += 1
                    try:
                        self._sender_wake.wait()
                    finally:
                        self._idle_senders -= 1
                lane = self._due.popleft()
                lane.queued = False
                lane.in_flight = True
            wait = self._attempt_reporting(lane)
            with self._lock:
                lane.in_flight = False
                lane.retrying = wait is not None
                lane.resume_at = time.monotonic() + wait if wait else 0.0
                self._idle.notify_all()
                self._schedule(lane)
            del lane  # a waiting thread must not keep a pipeline (and its client) alive

    def _attempt_reporting(self, lane: Lane) -> Optional[float]:
        """:meth:`_attempt`; an internal error drops the batch, reported, and the loop goes on."""
        try:
            return self._attempt(lane)
        except Exception as exc:
            log.exception("unexpected error in the PostHog sender thread")
            d = lane.pipeline
            batch = d.outbox.take(0)
            d.outbox.done(batch)
            d.drop_chunks(DropReason.RETRIES_EXHAUSTED, batch, cause=exc, detail="internal error")
            return None

    def _attempt(self, lane: Lane) -> Optional[float]:
        """One POST of the lane's head batch: None once it is settled, else seconds until the next
        attempt (0: at once, e.g. after a split)."""
        d = lane.pipeline
        if d.abandoned or lane.stopped:
            return None
        policy = lane.policy
        batch = policy.next_batch() if lane.retrying else policy.begin()
        if not batch:
            return None
        try:
            answer = post_events(d, join_arrays(batch), policy.v1, d.request_timeout())
        except Exception as exc:
            return policy.failed(batch, exc)
        return policy.succeeded(batch, answer)


def _stop(parents: Engine) -> None:
    parents.running = False


_ENGINE: Final[PerProcess[Engine]] = PerProcess(Engine, forget=_stop)


def engine() -> Engine:
    """This process's engine (a forked child gets its own)."""
    return _ENGINE.get()
