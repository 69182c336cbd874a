"""Talking to PostHog over HTTP: the bottom layer, shared by events and flags, blocking and async.

- :mod:`.protocol`: endpoints, headers, bodies and answers of the 3.x protocol;
- :mod:`.capture_v1`: the capture v1 protocol (request identity, compression, per-event answers);
- :mod:`.retry`: which failures are worth another attempt, and the backoff between attempts;
- :mod:`.async_http` / :mod:`.async_transport`: the asyncio HTTP clients (aiohttp, else httpx);
- :mod:`.preload`: import the blocking HTTP stack in the background when a client is created.

The blocking transport is :mod:`posthog.request` (its 3.x import path). Nothing here imports
the event pipeline (:mod:`posthog._pipeline`) or the clients.
"""
