"""What every wrapper shares: the ``posthog_*`` arguments, event properties, a send that never raises."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Optional

__all__ = ["MODEL_PARAMETERS", "Call", "model_parameters", "send_event", "split_kwargs"]

log = logging.getLogger("posthog")

#: Request settings reported in ``$ai_model_parameters`` when present.
MODEL_PARAMETERS: Final = (
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "n",
    "stop",
    "stream",
    "streaming",
)

_POSTHOG_KWARGS: Final = (
    "posthog_distinct_id",
    "posthog_trace_id",
    "posthog_properties",
    "posthog_privacy_mode",
    "posthog_groups",
)

_failures_lock = threading.Lock()
#: How many events our own code failed to build or send (never raised into the caller).
failures = 0


@dataclass
class Call:
    """One wrapped provider call: who it is for and how it is reported."""

    distinct_id: Optional[Any] = None
    trace_id: str = ""
    properties: Optional[Mapping[str, Any]] = None
    privacy_mode: bool = False
    groups: Optional[Mapping[str, Any]] = None
    started: float = field(default_factory=time.monotonic)

    def latency(self) -> float:
        """Seconds since the call started."""
        return time.monotonic() - self.started


def split_kwargs(kwargs: dict[str, Any]) -> tuple[Call, dict[str, Any]]:
    """Take the ``posthog_*`` arguments out of ``kwargs``; the rest goes to the provider."""
    ours = {name: kwargs.pop(name) for name in _POSTHOG_KWARGS if name in kwargs}
    trace_id = ours.get("posthog_trace_id")
    call = Call(
        distinct_id=ours.get("posthog_distinct_id"),
        trace_id=str(trace_id) if trace_id is not None else str(uuid.uuid4()),
        properties=ours.get("posthog_properties"),
        privacy_mode=bool(ours.get("posthog_privacy_mode", False)),
        groups=ours.get("posthog_groups"),
    )
    return call, kwargs


def model_parameters(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The reported subset of the request's settings."""
    return {name: kwargs[name] for name in MODEL_PARAMETERS if name in kwargs}


def send_event(client: Any, event: str, call: Call, properties: dict[str, Any]) -> None:
    """Capture ``event`` for ``call``; whatever goes wrong is logged and counted, never raised."""
    global failures
    try:
        if call.privacy_mode or getattr(client, "privacy_mode", False):
            for key in (
                "$ai_input",
                "$ai_output_choices",
                "$ai_tools",
                "$ai_input_state",
                "$ai_output_state",
            ):
                if key in properties:
                    properties[key] = None
        properties["$ai_trace_id"] = call.trace_id
        if call.properties:
            properties.update(call.properties)
        if call.distinct_id is None:
            properties["$process_person_profile"] = False
        distinct_id = call.distinct_id if call.distinct_id is not None else call.trace_id
        # As 3.x: through capture(), unless the client opted in to the AI endpoint.
        send = client.capture_ai if getattr(client, "capture_ai_events", False) is True else client.capture
        send(distinct_id=distinct_id, event=event, properties=properties, groups=call.groups)
    except Exception:  # never break the user's LLM call
        with _failures_lock:
            failures += 1
        log.warning("could not send the %s event", event, exc_info=True)
