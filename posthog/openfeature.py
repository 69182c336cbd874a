"""An OpenFeature provider answered by PostHog feature flags (needs the ``openfeature`` extra).

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from posthog import Posthog
    from posthog.openfeature import PostHogProvider

    api.set_provider_and_wait(PostHogProvider(Posthog("phc_...", personal_api_key="phx_...")))
    api.get_client().get_boolean_value("new-checkout", False, EvaluationContext("user-1"))

See :class:`PostHogProvider` for how contexts, values, reasons and errors are mapped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Optional, TypeVar, Union

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from ._default_client import default as _default_client
from ._default_client import existing_default
from ._package import facade
from .async_client import AsyncPosthog
from .client import Client
from .contexts import get_context_distinct_id
from .types import FeatureFlagResult

__all__ = ["PostHogProvider"]

log = logging.getLogger("posthog")

T = TypeVar("T")
ObjectValue = Union[Sequence[FlagValueType], Mapping[str, FlagValueType]]

#: The evaluation-context attributes that are not person properties.
RESERVED = ("groups", "group_properties")


class _Call(NamedTuple):
    """The arguments of one ``get_feature_flag_result`` call."""

    client: Union[Client, AsyncPosthog]
    distinct_id: str
    options: dict[str, Any]


class PostHogProvider(AbstractProvider):
    """OpenFeature provider over a PostHog client (``None``: the module's default client).

    Evaluation context: ``targeting_key`` is the distinct id (without one, that of the current
    ``posthog.new_context()``; else the default value with ``TARGETING_KEY_MISSING``); the
    attributes ``groups`` (``{"company": "acme"}``) and ``group_properties``
    (``{"company": {"plan": "pro"}}``) are passed as such; every other attribute is a person
    property.

    Values: boolean is whether the flag is enabled (a variant counts as enabled); string is the
    variant key; object is the payload (a JSON object or array); integer and float are the payload
    (a JSON number) or, for a flag without a payload, the variant key read as a number. Anything
    else is ``TYPE_MISMATCH``.

    Reasons: an enabled flag is ``TARGETING_MATCH`` (``variant`` is the variant key); a flag that
    is off answers ``False`` (boolean) or the default value, with ``DISABLED`` if it is inactive in
    the loaded definitions or the client is disabled, else ``DEFAULT``. The server's reason, when
    it decided, is ``flag_metadata["posthog_reason"]``. Errors answer the default value with
    ``ERROR``: ``FLAG_NOT_FOUND`` (PostHog has no such flag), ``GENERAL`` (it could not be decided
    locally, or the client raised: nothing is ever raised out of the provider), ``TYPE_MISMATCH``,
    ``INVALID_CONTEXT`` (``groups`` or ``group_properties`` is not a mapping).

    ``only_evaluate_locally`` and ``send_feature_flag_events`` are passed to every call. An
    :class:`~posthog.AsyncPosthog` answers the ``*_async`` evaluations (a blocking evaluation of
    it is a ``GENERAL`` error); a blocking client answers those in a worker thread.

    ``initialize()`` loads flag definitions when the client has a ``personal_api_key``;
    ``shutdown()`` flushes it (the ``$feature_flag_called`` events) but never shuts it down: the
    client, passed in or the module's, belongs to the application.
    """

    def __init__(
        self,
        client: Union[Client, AsyncPosthog, None] = None,
        *,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
    ) -> None:
        super().__init__()
        self.client = client
        self.only_evaluate_locally = only_evaluate_locally
        self.send_feature_flag_events = send_feature_flag_events

    # --- lifecycle -------------------------------------------------------------------------
    def get_metadata(self) -> Metadata:
        """The provider's name."""
        return Metadata(name="PostHog")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Load flag definitions now when the client can (an AsyncPosthog loads on its first call)."""
        client = self.client if self.client is not None else existing_default()
        if isinstance(client, Client) and client.personal_api_key:
            client.load_feature_flags()

    def shutdown(self) -> None:
        """Flush a blocking client's queued events (an AsyncPosthog is flushed by its owner)."""
        client = self.client if self.client is not None else facade().default_client
        if isinstance(client, Client):
            client.flush()

    # --- evaluation ------------------------------------------------------------------------
    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[bool]:
        return self._resolve("boolean", flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve("string", flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve("integer", flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[float]:
        return self._resolve("float", flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        return self._resolve("object", flag_key, default_value, evaluation_context)

    async def resolve_boolean_details_async(
        self, flag_key: str, default_value: bool, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[bool]:
        return await self._resolve_async("boolean", flag_key, default_value, evaluation_context)

    async def resolve_string_details_async(
        self, flag_key: str, default_value: str, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[str]:
        return await self._resolve_async("string", flag_key, default_value, evaluation_context)

    async def resolve_integer_details_async(
        self, flag_key: str, default_value: int, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[int]:
        return await self._resolve_async("integer", flag_key, default_value, evaluation_context)

    async def resolve_float_details_async(
        self, flag_key: str, default_value: float, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[float]:
        return await self._resolve_async("float", flag_key, default_value, evaluation_context)

    async def resolve_object_details_async(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: Optional[EvaluationContext] = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        return await self._resolve_async("object", flag_key, default_value, evaluation_context)

    def _resolve(
        self, kind: str, key: str, default: T, context: Optional[EvaluationContext]
    ) -> FlagResolutionDetails[T]:
        try:
            call = self._prepare(key, default, context)
            if isinstance(call, FlagResolutionDetails):
                return call
            if isinstance(call.client, AsyncPosthog):
                message = "an AsyncPosthog answers the async evaluations (get_boolean_value_async, ...)"
                return _error(default, ErrorCode.GENERAL, message)
            result = call.client.get_feature_flag_result(key, call.distinct_id, **call.options)
            return self._details(kind, call.client, key, default, result)
        except Exception as exc:
            return _failed(key, default, exc)

    async def _resolve_async(
        self, kind: str, key: str, default: T, context: Optional[EvaluationContext]
    ) -> FlagResolutionDetails[T]:
        try:
            call = self._prepare(key, default, context)
            if isinstance(call, FlagResolutionDetails):
                return call
            client = call.client
            if isinstance(client, AsyncPosthog):
                result = await client.get_feature_flag_result(key, call.distinct_id, **call.options)
            else:  # a blocking client may ask the server: not on the loop (contextvars go along)
                ask = client.get_feature_flag_result
                result = await asyncio.to_thread(ask, key, call.distinct_id, **call.options)
            return self._details(kind, client, key, default, result)
        except Exception as exc:
            return _failed(key, default, exc)

    def _prepare(
        self, key: str, default: T, context: Optional[EvaluationContext]
    ) -> Union[_Call, FlagResolutionDetails[T]]:
        """The client call for ``context``, or the answer when there is nothing to ask."""
        client = self.client if self.client is not None else _default_client()
        if client.disabled:
            return FlagResolutionDetails(default, reason=Reason.DISABLED)
        distinct_id = (context.targeting_key if context else None) or get_context_distinct_id()
        if not distinct_id:
            message = "no targeting key in the evaluation context, nor a distinct id in the PostHog context"
            return _error(default, ErrorCode.TARGETING_KEY_MISSING, message)
        attributes = dict(context.attributes) if context else {}
        groups: Any = attributes.get("groups")
        group_properties: Any = attributes.get("group_properties")
        if groups is not None and not isinstance(groups, Mapping):
            return _error(default, ErrorCode.INVALID_CONTEXT, "the attribute groups must be a mapping")
        if group_properties is not None and not (
            isinstance(group_properties, Mapping)
            and all(isinstance(value, Mapping) for value in group_properties.values())
        ):
            message = "the attribute group_properties must map group types to mappings"
            return _error(default, ErrorCode.INVALID_CONTEXT, message)
        person = {name: value for name, value in attributes.items() if name not in RESERVED}
        options = {
            "groups": dict(groups) if groups else None,
            "person_properties": person or None,
            "group_properties": {k: dict(v) for k, v in (group_properties or {}).items()} or None,
            "only_evaluate_locally": self.only_evaluate_locally,
            "send_feature_flag_events": self.send_feature_flag_events,
        }
        return _Call(client, distinct_id, options)

    def _details(
        self, kind: str, client: Any, key: str, default: T, result: Optional[FeatureFlagResult]
    ) -> FlagResolutionDetails[T]:
        """The resolution of ``result`` as a value of ``kind``."""
        definitions: Optional[Mapping[str, Any]] = client.feature_flags_by_key
        if result is None:
            if definitions is not None and key in definitions:
                where = "locally" if self.only_evaluate_locally else "locally, nor by PostHog's server"
                return _error(default, ErrorCode.GENERAL, f"flag {key!r} could not be decided {where}")
            if self.only_evaluate_locally and definitions is None:
                message = f"flag {key!r} could not be decided locally: no flag definitions are loaded"
                return _error(default, ErrorCode.GENERAL, message)
            return _error(default, ErrorCode.FLAG_NOT_FOUND, f"flag {key!r} not found")
        metadata = {"posthog_reason": result.reason} if result.reason else {}
        if not result.enabled:
            inactive = definitions is not None and definitions.get(key, {}).get("active") is False
            value: Any = False if kind == "boolean" else default
            reason = Reason.DISABLED if inactive else Reason.DEFAULT
            return FlagResolutionDetails(value, reason=reason, flag_metadata=metadata)
        value, problem = _typed_value(kind, result)
        if problem:
            return _error(default, ErrorCode.TYPE_MISMATCH, f"flag {key!r} {problem}", metadata)
        return FlagResolutionDetails(
            value, reason=Reason.TARGETING_MATCH, variant=result.variant, flag_metadata=metadata
        )


def _typed_value(kind: str, result: FeatureFlagResult) -> tuple[Any, str]:
    """The enabled flag's value as ``kind``, or an empty value and why it is not one."""
    variant, payload = result.variant, result.payload
    if kind == "boolean":
        return True, ""
    if kind == "string":
        return (variant, "") if variant is not None else (None, "is a boolean flag: it has no variant")
    if kind == "object":
        if isinstance(payload, (dict, list)):
            return payload, ""
        return None, "has no payload" if payload is None else "has a payload that is not an object or array"
    noun = "an integer" if kind == "integer" else "a float"
    if payload is None and variant is not None:  # a number from the variant key
        try:
            return (int(variant) if kind == "integer" else float(variant)), ""
        except ValueError:
            return None, f"has no payload and its variant {variant!r} is not {noun}"
    if isinstance(payload, bool) or not isinstance(payload, (int, float)):
        return None, "has no payload" if payload is None else f"has a payload that is not {noun}"
    if kind == "integer":
        return (payload, "") if isinstance(payload, int) else (None, f"has a payload that is not {noun}")
    return float(payload), ""


def _error(
    default: T, code: ErrorCode, message: str, metadata: Optional[Mapping[str, Any]] = None
) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        default, error_code=code, error_message=message, reason=Reason.ERROR, flag_metadata=metadata or {}
    )


def _failed(key: str, default: T, exc: Exception) -> FlagResolutionDetails[T]:
    log.warning("[FEATURE FLAGS] OpenFeature evaluation of %r failed: %r", key, exc)
    return _error(default, ErrorCode.GENERAL, f"{type(exc).__name__}: {exc}")
