"""The ``$ai_generation`` / ``$ai_embedding`` events of OpenAI calls, one :class:`Job` per call."""

from __future__ import annotations

from typing import Any, Optional

from .._events import model_parameters, send_event, split_kwargs
from .._sanitize import with_system_prompt, without_base64
from .._stream import track
from ._extract import (
    ChatStreamState,
    ResponsesStreamState,
    chat_output,
    chat_usage,
    responses_output,
    responses_usage,
)

__all__ = ["Job"]


def _status(error: Optional[BaseException]) -> int:
    if error is None:
        return 200
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else 0


def _with_error(props: dict[str, Any], error: Optional[BaseException]) -> dict[str, Any]:
    if error is not None:
        props["$ai_is_error"] = True
        props["$ai_error"] = str(error)
    return props


class Job:
    """One wrapped call: ``kind`` is ``"chat"``, ``"responses"`` or ``"embedding"``.

    Takes the ``posthog_*`` arguments out of the call's keyword arguments (``kwargs`` is what
    goes to the provider), then reports the outcome: a result, a stream, or an error.
    """

    def __init__(self, owner: Any, kwargs: dict[str, Any], kind: str) -> None:
        self.call, kwargs = split_kwargs(kwargs)
        if kind == "chat" and kwargs.get("stream"):
            # Usage arrives only when asked for (as 3.x did).
            kwargs = {
                **kwargs,
                "stream_options": {**(kwargs.get("stream_options") or {}), "include_usage": True},
            }
        self.kwargs = kwargs
        self.kind = kind
        self._client = owner._ph_client
        self._base_url = getattr(owner, "base_url", "")

    def failed(self, error: BaseException) -> None:
        """The provider raised ``error`` (re-raised by the caller after this)."""
        self._report(None, [], self._usage(None), error)

    def _usage(self, result: Any) -> dict[str, Any]:
        usage = getattr(result, "usage", None)
        return chat_usage(usage) if self.kind == "chat" else responses_usage(usage)

    def finished(self, result: Any, *, asynchronous: bool) -> Any:
        """The provider answered: report it now, or wrap its stream to report when it ends."""
        if not self.kwargs.get("stream") or self.kind == "embedding":
            self._report_result(result)
            return result
        state: Any = ChatStreamState() if self.kind == "chat" else ResponsesStreamState()
        return track(
            result, state.add, lambda error: self._report_stream(state, error), asynchronous=asynchronous
        )

    def _report_result(self, result: Any) -> None:
        if self.kind == "embedding":
            self._report_embedding(result)
            return
        output = chat_output(result) if self.kind == "chat" else responses_output(result)
        self._report(result, output, self._usage(result), None)

    def _report_stream(self, state: Any, error: Optional[BaseException]) -> None:
        self._report(None, state.output(), state.usage_properties(), error, model=state.model)

    def _report(
        self,
        result: Any,
        output: list[dict[str, Any]],
        usage: dict[str, Any],
        error: Optional[BaseException],
        model: Any = None,
    ) -> None:
        if self.kind == "embedding":
            self._report_embedding(None, error)
            return
        kwargs = self.kwargs
        props: dict[str, Any] = {
            "$ai_provider": "openai",
            "$ai_model": kwargs.get("model") or model or getattr(result, "model", None),
            "$ai_model_parameters": model_parameters(kwargs),
            "$ai_http_status": _status(error),
            "$ai_latency": self.call.latency(),
            "$ai_base_url": str(self._base_url),
        }
        if kwargs.get("tools"):
            props["$ai_tools"] = without_base64(kwargs["tools"])
        if self.kind == "chat":
            props["$ai_input"] = with_system_prompt(kwargs.get("messages"), None)
        else:
            props["$ai_input"] = with_system_prompt(kwargs.get("input"), kwargs.get("instructions"))
            if kwargs.get("instructions"):
                props["$ai_instructions"] = kwargs["instructions"]
        props["$ai_output_choices"] = output
        props.update(usage)
        send_event(self._client, "$ai_generation", self.call, _with_error(props, error))

    def _report_embedding(self, result: Any, error: Optional[BaseException] = None) -> None:
        # A failed embeddings call is reported too (3.x sent nothing).
        tokens = getattr(getattr(result, "usage", None), "prompt_tokens", None)
        props: dict[str, Any] = {
            "$ai_provider": "openai",
            "$ai_model": self.kwargs.get("model") or getattr(result, "model", None),
            "$ai_input": self.kwargs.get("input"),
            "$ai_http_status": _status(error),
            "$ai_input_tokens": tokens if isinstance(tokens, int) else 0,
            "$ai_latency": self.call.latency(),
            "$ai_base_url": str(self._base_url),
        }
        send_event(self._client, "$ai_embedding", self.call, _with_error(props, error))
