"""What a test scripts the fake LLM to answer: replies, provider-shaped failures and dropped connections.

A test queues steps on a :class:`~tests.fake_llm.server.FakeLLM`; each request to a provider route
takes the next one, in order, whatever the route (when the queue is empty, ``FakeLLM.responder`` or
``FakeLLM.default_reply`` answers). The same :class:`Reply` renders in each provider's wire format:

- ``text`` (``None``: a default sentence, or no text at all when there are tool calls);
- ``tool_calls``: OpenAI ``tool_calls`` / Responses ``function_call`` items / Anthropic ``tool_use``;
- ``usage`` (``None``: no usage in the answer at all);
- ``model`` (``None``: the request's model, or the provider default when the request had none);
- ``chunks``: how many pieces text and tool arguments are split into when streamed;
- ``break_after``: stream only that many SSE events, then close the connection mid-body;
- ``stream_error``: after ``break_after`` events (default 0), send a provider error event and end.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Union

__all__ = [
    "DEFAULT_TEXT",
    "Drop",
    "Exchange",
    "Failure",
    "Frame",
    "Reply",
    "Step",
    "ToolCall",
    "Usage",
    "split",
]

DEFAULT_TEXT: Final = "Hello from the fake LLM."

# One server-sent event: (event name or None, data line).
Frame = tuple[Union[str, None], str]


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asks for; ``arguments`` is an object or already-encoded JSON text."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None  # None: generated per request (call_... / toolu_...)

    def arguments_json(self) -> str:
        """The arguments as the JSON text OpenAI sends."""
        args = self.arguments
        return args if isinstance(args, str) else json.dumps(dict(args), separators=(",", ":"))

    def arguments_object(self) -> Any:
        """The arguments as the object Anthropic sends in ``tool_use.input``."""
        args = self.arguments
        return json.loads(args) if isinstance(args, str) else dict(args)


@dataclass(frozen=True)
class Usage:
    """Token counts; ``None`` for a detail sends it as JSON null, ``details=False`` nulls the details objects.

    OpenAI: ``cached_tokens`` -> ``prompt_tokens_details.cached_tokens`` (Responses:
    ``input_tokens_details.cached_tokens``), ``reasoning_tokens`` -> ``completion_tokens_details`` /
    ``output_tokens_details``. Anthropic: ``cached_tokens`` -> ``cache_read_input_tokens``,
    ``cache_creation_tokens`` -> ``cache_creation_input_tokens``.
    """

    input_tokens: int = 10
    output_tokens: int = 5
    cached_tokens: int | None = 0
    reasoning_tokens: int | None = 0
    cache_creation_tokens: int | None = 0
    details: bool = True

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Failure:
    """Answer with ``status`` and a provider-shaped error body (or, as ``stream_error``, an error event).

    ``error_type`` defaults from the status (``rate_limit_error`` for 429, ...); ``retry_after`` sets
    the ``Retry-After`` header.
    """

    status: int = 500
    message: str | None = None
    error_type: str | None = None
    code: str | None = None
    retry_after: float | None = None

    def describe(self) -> str:
        return self.message or f"fake LLM failure {self.status}"


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without answering (a connection error)."""


@dataclass(frozen=True)
class Reply:
    """One successful answer, rendered in the wire format of the route that receives it."""

    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    usage: Usage | None = field(default_factory=Usage)
    model: str | None = None
    chunks: int = 3
    stop_reason: str | None = None  # None: stop/tool_calls (OpenAI), end_turn/tool_use (Anthropic)
    break_after: int | None = None
    stream_error: Failure | None = None
    latency: float = 0.0  # seconds before the status line is sent
    chunk_delay: float = 0.0  # seconds between stream events

    def __post_init__(self) -> None:
        if self.chunks < 1:
            raise ValueError(f"chunks must be >= 1, got {self.chunks}")
        if self.break_after is not None and self.break_after < 0:
            raise ValueError(f"break_after must be >= 0, got {self.break_after}")

    @property
    def resolved_text(self) -> str:
        """The text to send: the scripted one, else the default unless there are tool calls."""
        if self.text is not None:
            return self.text
        return "" if self.tool_calls else DEFAULT_TEXT


Step = Union[Reply, Failure, Drop]


def split(text: str, pieces: int) -> list[str]:
    """Cut ``text`` into at most ``pieces`` non-empty consecutive parts of near-equal length."""
    if not text:
        return []
    pieces = min(pieces, len(text))
    size, extra = divmod(len(text), pieces)
    parts: list[str] = []
    start = 0
    for index in range(pieces):
        end = start + size + (1 if index < extra else 0)
        parts.append(text[start:end])
        start = end
    return parts


@dataclass(frozen=True)
class Exchange:
    """What a wire builder renders: the parsed request, the reply, and per-request identifiers."""

    request: Mapping[str, Any]
    reply: Reply
    serial: int  # 1-based request number on this server
    created: int  # unix seconds

    @property
    def stream(self) -> bool:
        return bool(self.request.get("stream"))

    def model(self, default: str) -> str:
        """The scripted model, else the request's, else ``default``."""
        if self.reply.model is not None:
            return self.reply.model
        requested = self.request.get("model")
        return requested if isinstance(requested, str) and requested else default

    def tool_id(self, index: int, prefix: str) -> str:
        scripted = self.reply.tool_calls[index].id
        return scripted if scripted is not None else f"{prefix}fake{self.serial}_{index}"

    def pieces(self, text: str) -> list[str]:
        return split(text, self.reply.chunks)
