"""The event pipeline of the blocking and asyncio clients, in layers that import downwards only.

1. Queueing and encoding: :mod:`.queue` (the bounded FIFO of events' JSON text and the ledger
   ``flush`` waits on), :mod:`.outbox` (encoded chunks waiting, being sent, or held through an
   outage), :mod:`.encode` (queue → outbox), :mod:`.drops` (what was lost, by reason).
2. Policy, pure (no thread, no socket): :mod:`.policy` decides after every attempt (merge,
   retry with backoff, hold, split, drop); :mod:`.interface` is what it needs of a pipeline.
3. Drivers: :mod:`.engine` (one per process: an encoder and a few senders for every blocking
   client, :mod:`.send` makes their requests) and :mod:`.async_sender` (a task per event loop).
4. Pipelines: :mod:`.dispatcher` (a blocking client's: put, flush, shutdown with deadlines;
   :mod:`.consumers` are its 3.x-shaped handles) and :mod:`.async_dispatcher` (``AsyncPosthog``'s).
5. Hooks: :mod:`.exit_hook` drains every pipeline at interpreter exit; forks are handled by
   :mod:`posthog._fork` and by the engine itself.

Transports sit below all of this: :mod:`posthog.request` (blocking) and :mod:`posthog._http`
(the wire protocol, capture v1, retry classification, the asyncio HTTP clients).
"""
