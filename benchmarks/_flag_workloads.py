"""The flag workloads of ``benchmarks/_workloads.py``; they run under both interpreters.

Standard library and the public posthog 3.x API only, like ``_workloads.py``, which imports this
file as a top-level module (a script's directory is ``sys.path[0]``, in the reference's empty
working directory too).

- ``flags`` (row 3e, easy mix, row 3r and the growth rows): µs per ``get_feature_flag`` and per
  ``get_all_flags``; the context changes every ``len(definitions)`` single-flag calls.
- ``flags_hard`` (row 3, hard mix): µs per ``get_feature_flag``, ``get_all_flags`` and
  ``get_all_flags_and_payloads`` where every call takes the next context of the pool (round
  robin), and the single-flag key rotates over the definitions; and the first two again with
  contexts never met before (``cold_*``: no per-user cache can help).

Both leave a new client alone for ``SETTLE_S`` before timing (see there).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import posthog

API_KEY = "phc_benchmark"
#: seconds a new client is left alone before any timing: its one-time start-up work is not flag
#: evaluation (this library imports its HTTP stack on a background thread when a client is
#: created, about 80 ms here, which would hold the GIL during a 20 ms timed loop; 3.25.0 imports
#: it with the package and has nothing left to do)
SETTLE_S = 0.3


def load_definitions(client: Any, path: str) -> dict[str, Any]:
    """Install the definitions of a flags file on ``client`` as a poll would; the file's data."""
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    body = data["definitions"]
    client.group_type_mapping = body["group_type_mapping"]
    client.cohorts = body["cohorts"]
    client.feature_flags = body["flags"]
    return data


def flags(params: dict[str, Any]) -> dict[str, Any]:
    """µs per get_feature_flag and per get_all_flags, local only; the values for a check set."""
    client = posthog.Posthog(API_KEY, host=params["url"])
    data = load_definitions(client, params["flags_file"])
    time.sleep(SETTLE_S)
    contexts: list[dict[str, Any]] = data["contexts"]
    keys = [flag["key"] for flag in data["definitions"]["flags"]]

    def one(key: str, ctx: dict[str, Any]) -> Any:
        return client.get_feature_flag(
            key,
            ctx["distinct_id"],
            groups=ctx["groups"],
            person_properties=ctx["person_properties"],
            group_properties=ctx["group_properties"],
            only_evaluate_locally=True,
            send_feature_flag_events=False,
        )

    def every(ctx: dict[str, Any]) -> Any:
        return client.get_all_flags(
            ctx["distinct_id"],
            groups=ctx["groups"],
            person_properties=ctx["person_properties"],
            group_properties=ctx["group_properties"],
            only_evaluate_locally=True,
        )

    result: dict[str, Any] = {}
    n_one = int(params.get("n_one", 0))
    if n_one:
        pairs = [(keys[i % len(keys)], contexts[(i // len(keys)) % len(contexts)]) for i in range(n_one)]
        for key, ctx in pairs[:200]:
            one(key, ctx)
        start = time.perf_counter()
        for key, ctx in pairs:
            one(key, ctx)
        result["one_us"] = (time.perf_counter() - start) / n_one * 1e6
    n_all = int(params["n_all"])
    for ctx in contexts[:5]:
        every(ctx)
    ordered = [contexts[i % len(contexts)] for i in range(n_all)]
    start = time.perf_counter()
    for ctx in ordered:
        every(ctx)
    result["all_us"] = (time.perf_counter() - start) / n_all * 1e6
    if params.get("check"):
        result["values"] = [
            {"all": every(ctx), "one": {key: one(key, ctx) for key in keys}} for ctx in contexts
        ]
    return result


def _contexts(raw: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["distinct_id"], c["groups"], c["person_properties"], c["group_properties"]) for c in raw]


def _time_one(client: Any, calls: list[tuple[Any, ...]]) -> float:
    """µs per ``get_feature_flag`` over ``calls`` of (key, distinct_id, groups, person, by_group)."""
    get_one = client.get_feature_flag
    start = time.perf_counter()
    for key, distinct_id, groups, person, by_group in calls:
        get_one(
            key,
            distinct_id,
            groups=groups,
            person_properties=person,
            group_properties=by_group,
            only_evaluate_locally=True,
            send_feature_flag_events=False,
        )
    return (time.perf_counter() - start) / max(1, len(calls)) * 1e6


def _time_every(method: Any, contexts: list[tuple[Any, ...]]) -> float:
    """µs per call of ``get_all_flags`` or ``get_all_flags_and_payloads`` over ``contexts``."""
    start = time.perf_counter()
    for distinct_id, groups, person, by_group in contexts:
        method(
            distinct_id,
            groups=groups,
            person_properties=person,
            group_properties=by_group,
            only_evaluate_locally=True,
        )
    return (time.perf_counter() - start) / max(1, len(contexts)) * 1e6


def flags_hard(params: dict[str, Any]) -> dict[str, Any]:
    """µs per call of the three local flag methods, each call with the next context of the pool.

    Each timed loop starts warm: one untimed period of its rotation first (every (flag, context)
    pair, or every context, it will time has been met once), as in a server that keeps seeing the
    same users. ``cold_*``: the same calls with contexts never met before (``fresh_contexts``:
    first half single flags, second half ``get_all_flags``).

    With ``check``: the values and payloads of the first ``check_contexts`` contexts, and over
    the whole pool the share of (flag, context) pairs decided locally and the values' spread.
    """
    client = posthog.Posthog(API_KEY, host=params["url"])
    data = load_definitions(client, params["flags_file"])
    time.sleep(SETTLE_S)
    keys = [flag["key"] for flag in data["definitions"]["flags"]]
    pool = _contexts(data["contexts"])
    size = len(pool)
    result: dict[str, Any] = {}

    calls = [(keys[(i + i // size) % len(keys)], *pool[i % size]) for i in range(int(params["n_one"]))]
    _time_one(client, calls[: size * len(keys)])
    result["one_us"] = _time_one(client, calls)
    contexts = [pool[i % size] for i in range(int(params["n_all"]))]
    for field, method in (
        ("all_us", client.get_all_flags),
        ("payloads_us", client.get_all_flags_and_payloads),
    ):
        _time_every(method, pool)
        result[field] = _time_every(method, contexts)
    fresh = _contexts(data.get("fresh_contexts", []))
    if fresh:
        half = len(fresh) // 2
        cold = [(keys[i % len(keys)], *context) for i, context in enumerate(fresh[:half])]
        result["cold_one_us"] = _time_one(client, cold)
        result["cold_all_us"] = _time_every(client.get_all_flags, fresh[half:])
    if params.get("check"):
        result.update(_check(client, keys, pool, int(params["check_contexts"])))
    return result


def _check(client: Any, keys: list[str], pool: list[tuple[Any, ...]], n_values: int) -> dict[str, Any]:
    """Values and payloads of the first ``n_values`` contexts; decided share and spread of the pool."""
    values: list[dict[str, Any]] = []
    spread: Counter[str] = Counter()
    for index, (distinct_id, groups, person, by_group) in enumerate(pool):
        context = {"groups": groups, "person_properties": person, "group_properties": by_group}
        both = client.get_all_flags_and_payloads(distinct_id, **context, only_evaluate_locally=True)
        spread.update(
            "variant" if isinstance(v, str) else str(v).lower() for v in both["featureFlags"].values()
        )
        spread["payloads"] += len(both["featureFlagPayloads"])
        if index < n_values:
            one = {
                key: client.get_feature_flag(
                    key, distinct_id, **context, only_evaluate_locally=True, send_feature_flag_events=False
                )
                for key in keys
            }
            every = client.get_all_flags(distinct_id, **context, only_evaluate_locally=True)
            values.append({"all": every, "both": both, "one": one})
    decided = spread["true"] + spread["false"] + spread["variant"]
    return {"values": values, "spread": dict(spread), "decided": decided / (len(pool) * len(keys))}
