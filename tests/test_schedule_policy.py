"""When a batch is encoded and when it is sent: the engine's decisions, pure (no thread, no socket)."""

from __future__ import annotations

from posthog._pipeline.policy import FULL_ENOUGH, LINGER, encode_at, send_at


def test_a_partial_batch_is_encoded_once_its_oldest_event_waited_flush_interval() -> None:
    assert encode_at(10.0, 3, 9.8, 100, 0.5, False) == 10.3
    assert encode_at(10.3, 3, 9.8, 100, 0.5, False) == 10.3
    assert encode_at(11.0, 3, 9.8, 100, 0.5, False) == 11.0  # overdue: now, never in the past


def test_a_full_batch_or_a_flush_is_encoded_at_once() -> None:
    assert encode_at(10.0, 100, 10.0, 100, 0.5, False) == 10.0
    assert encode_at(10.0, 1, 10.0, 100, 0.5, True) == 10.0


def _send_at(now: float, **overrides: object) -> float:
    settings: dict[str, object] = {
        "retrying": False,
        "resume_at": 0.0,
        "hurry": False,
        "waiting_bytes": 1000,
        "linger_from": now,
        "flush_interval": 0.5,
    }
    settings.update(overrides)
    return send_at(now, **settings)  # type: ignore[arg-type]


def test_a_small_batch_lingers_for_more_then_goes() -> None:
    assert _send_at(10.0) == 10.0 + LINGER
    assert _send_at(10.0 + LINGER, linger_from=10.0) == 10.0 + LINGER
    assert _send_at(10.0, flush_interval=0.001) == 10.001  # never longer than flush_interval


def test_a_megabyte_or_a_flush_goes_at_once() -> None:
    assert _send_at(10.0, waiting_bytes=FULL_ENOUGH) == 10.0
    assert _send_at(10.0, hurry=True) == 10.0


def test_a_failed_batch_waits_for_its_retry_whatever_else() -> None:
    assert _send_at(10.0, retrying=True, resume_at=12.5, hurry=True, waiting_bytes=FULL_ENOUGH) == 12.5
    assert _send_at(13.0, retrying=True, resume_at=12.5) == 13.0
