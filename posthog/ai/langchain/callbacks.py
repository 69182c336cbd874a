"""``CallbackHandler``: LangChain runs as ``$ai_trace``, ``$ai_span`` and ``$ai_generation`` events.

A root run is the trace (its run id is the trace id unless the handler was given one); nested
chains, tools and retrievers are spans; LLM and chat-model runs are generations. Every event of a
trace goes to the same person: the handler's ``distinct_id``, else the trace id (with
``$process_person_profile: false``). Nothing here ever raises into LangChain.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional
from uuid import UUID, uuid4

from langchain_core.callbacks import BaseCallbackHandler

from .._events import Call, model_parameters, send_event
from ._convert import as_state, error_text, message_dict, output_choices, usage_properties

__all__ = ["CallbackHandler"]

log = logging.getLogger("posthog")


@dataclass
class _Run:
    name: str
    parent: Optional[UUID]
    input: Any = None
    started: float = field(default_factory=time.monotonic)
    generation: Optional[dict[str, Any]] = None  # provider, model, parameters, base URL, tools


def _name(serialized: Optional[Mapping[str, Any]], kwargs: Mapping[str, Any], default: str) -> str:
    if kwargs.get("name"):
        return str(kwargs["name"])
    if serialized:
        if serialized.get("name"):
            return str(serialized["name"])
        ids = serialized.get("id")
        if isinstance(ids, Sequence) and ids:
            return str(ids[-1])
    return default


def _base_url(serialized: Optional[Mapping[str, Any]], params: Mapping[str, Any]) -> Optional[str]:
    settings = (serialized or {}).get("kwargs") or {}
    for source in (params, settings):
        for key in ("base_url", "openai_api_base", "anthropic_api_url", "api_base"):
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    return None


class CallbackHandler(BaseCallbackHandler):
    """Reports LangChain runs to PostHog: pass it in ``config={"callbacks": [handler]}``."""

    raise_error = False

    def __init__(
        self,
        client: Any = None,
        *,
        distinct_id: Any = None,
        trace_id: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        privacy_mode: bool = False,
        groups: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if client is None:
            root = importlib.import_module(__name__.split(".", 1)[0])
            client = getattr(root, "default_client", None)
        if client is None:
            raise ValueError("PostHog client is required")
        self._client = client
        self._distinct_id = distinct_id
        self._trace_id = trace_id
        self._properties = dict(properties or {})
        self._privacy_mode = privacy_mode
        self._groups = dict(groups) if groups else None
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    # --- bookkeeping --------------------------------------------------------------------------
    def _start(self, run_id: UUID, parent: Optional[UUID], name: str, value: Any) -> _Run:
        run = _Run(name=name, parent=parent, input=value)
        with self._lock:
            self._runs[run_id] = run
        return run

    def _trace_of(self, run_id: UUID) -> str:
        if self._trace_id is not None:
            return str(self._trace_id)
        root = run_id
        with self._lock:
            seen = 0
            while seen < 1000:
                run = self._runs.get(root)
                if run is None or run.parent is None:
                    break
                root = run.parent
                seen += 1
        return str(root)

    def _call(self, run_id: UUID) -> Call:
        return Call(
            distinct_id=self._distinct_id,
            trace_id=self._trace_of(run_id),
            properties=self._properties,
            privacy_mode=self._privacy_mode,
            groups=self._groups,
        )

    def _send(self, event: str, run_id: UUID, props: dict[str, Any]) -> None:
        call = self._call(run_id)
        with self._lock:
            self._runs.pop(run_id, None)
        send_event(self._client, event, call, props)

    def _end_span(self, run_id: UUID, output: Any, error: Optional[BaseException]) -> None:
        try:
            with self._lock:
                run = self._runs.get(run_id)
            if run is None:
                return
            props: dict[str, Any] = {
                "$ai_input_state": as_state(run.input),
                "$ai_latency": time.monotonic() - run.started,
                "$ai_span_name": run.name,
                "$ai_span_id": str(run_id),
            }
            if run.parent is not None:
                props["$ai_parent_id"] = str(run.parent)
            if error is None:
                props["$ai_output_state"] = as_state(output)
            else:
                props["$ai_is_error"] = True
                props["$ai_error"] = error_text(error)
            self._send("$ai_trace" if run.parent is None else "$ai_span", run_id, props)
        except Exception:  # never break the user's chain
            log.warning("could not report a LangChain run", exc_info=True)

    # --- chains, tools, retrievers ------------------------------------------------------------
    def on_chain_start(
        self,
        serialized: Optional[dict[str, Any]],
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        **kwargs: Any,
    ) -> None:
        """A chain starts: remembered until it ends."""
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "chain"), inputs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain ends: ``$ai_trace`` (root) or ``$ai_span``."""
        self._end_span(run_id, outputs, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain failed."""
        self._end_span(run_id, None, error)

    def on_tool_start(
        self,
        serialized: Optional[dict[str, Any]],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        inputs: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """A tool starts."""
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "tool"), inputs if inputs else input_str)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool ends: ``$ai_span``."""
        self._end_span(run_id, output, None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool failed."""
        self._end_span(run_id, None, error)

    def on_retriever_start(
        self,
        serialized: Optional[dict[str, Any]],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        **kwargs: Any,
    ) -> None:
        """A retriever starts."""
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "retriever"), query)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever ends: ``$ai_span`` with its documents."""
        self._end_span(run_id, documents, None)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever failed."""
        self._end_span(run_id, None, error)

    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """An agent decided on a tool: a span named after the tool, under the agent's run."""
        try:
            props: dict[str, Any] = {
                "$ai_input_state": as_state(getattr(action, "tool_input", None)),
                "$ai_latency": 0.0,
                "$ai_span_name": str(getattr(action, "tool", "agent action")),
                "$ai_span_id": str(uuid4()),
                "$ai_parent_id": str(run_id),
            }
            send_event(self._client, "$ai_span", self._call(run_id), props)
        except Exception:
            log.warning("could not report a LangChain agent action", exc_info=True)

    def on_agent_finish(self, finish: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """An agent finished: its chain's end reports the run."""

    # --- models -------------------------------------------------------------------------------
    def _start_generation(
        self,
        serialized: Optional[dict[str, Any]],
        messages: Any,
        run_id: UUID,
        parent_run_id: Optional[UUID],
        metadata: Optional[Mapping[str, Any]],
        kwargs: Mapping[str, Any],
    ) -> None:
        try:
            params = kwargs.get("invocation_params") or {}
            metadata = metadata or {}
            run = self._start(run_id, parent_run_id, _name(serialized, kwargs, "llm"), messages)
            generation: dict[str, Any] = {
                "$ai_provider": metadata.get("ls_provider"),
                "$ai_model": metadata.get("ls_model_name") or params.get("model") or params.get("model_name"),
                "$ai_model_parameters": {k: v for k, v in model_parameters(params).items() if v is not None},
                "$ai_base_url": _base_url(serialized, params),
            }
            if params.get("tools"):
                generation["$ai_tools"] = as_state(params["tools"])
            run.generation = generation
        except Exception:
            log.warning("could not record a LangChain model run", exc_info=True)

    def on_chat_model_start(
        self,
        serialized: Optional[dict[str, Any]],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        metadata: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """A chat model is called."""
        flat = [message_dict(m) for batch in messages for m in batch]
        self._start_generation(serialized, flat, run_id, parent_run_id, metadata, kwargs)

    def on_llm_start(
        self,
        serialized: Optional[dict[str, Any]],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: Optional[UUID] = None,
        metadata: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        """A text model is called."""
        inputs = [{"role": "user", "content": prompt} for prompt in prompts]
        self._start_generation(serialized, inputs, run_id, parent_run_id, metadata, kwargs)

    def _end_generation(self, run_id: UUID, response: Any, error: Optional[BaseException]) -> None:
        try:
            with self._lock:
                run = self._runs.get(run_id)
            if run is None:
                return
            props: dict[str, Any] = {
                "$ai_span_id": str(run_id),
                "$ai_span_name": run.name,
                "$ai_parent_id": str(run.parent) if run.parent is not None else None,
                **(run.generation or {}),
                "$ai_input": run.input,
                "$ai_latency": time.monotonic() - run.started,
            }
            if error is None:
                props["$ai_http_status"] = 200
                props.update(usage_properties(response))
                props["$ai_output_choices"] = output_choices(response)
            else:
                status = getattr(error, "status_code", None)
                props["$ai_http_status"] = status if isinstance(status, int) else 0
                props["$ai_is_error"] = True
                props["$ai_error"] = error_text(error)
            self._send("$ai_generation", run_id, props)
        except Exception:  # never break the user's chain
            log.warning("could not report a LangChain model run", exc_info=True)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A model answered: ``$ai_generation``."""
        self._end_generation(run_id, response, None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call failed: ``$ai_generation`` with the error."""
        self._end_generation(run_id, None, error)
