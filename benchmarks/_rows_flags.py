"""Rows 3 and 3e: local flag evaluation through the public API, on a hard mix and an easy one.

- 3 (hard mix, ``hard_flag_definitions`` in ``benchmarks/_data.py``): 50 definitions with regex,
  icontains on person and group properties, numbers sent as text, relative dates, cohorts nested
  in cohorts, group flags, multivariate flags with payloads and rollouts below 100 %. Every call
  of ``get_feature_flag`` (the key rotating over the definitions), ``get_all_flags`` and
  ``get_all_flags_and_payloads`` takes the next of 200 contexts. Target <= 0.125 (>= 8x).
  Timing starts after one pass over the pool, so it shows a server that keeps seeing the same
  200 users (what a library caches per user or per property value stays warm). The note adds
  the time with contexts never met before (every call a new user, nothing cached helps).
- 3e (easy mix, ``flag_definitions``): ``get_feature_flag`` and ``get_all_flags`` over 50
  friendlier definitions, as row 3 measured before the hard mix. Target <= 0.20.

Both check that the two libraries return the same values (and, for 3, payloads) for a check set
of contexts; a difference marks the rows INVALID. Row 3 also counts, over the whole pool, the
(flag, context) pairs each side decides locally: an undecided flag returns early, so a mix that
leaves many undecided would flatter whichever side gives up sooner; below ``MIN_DECIDED`` on
either side the rows are INVALID too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol

from benchmarks._data import (
    HARD_FLAG_COUNT,
    contexts,
    flag_definitions,
    hard_contexts,
    hard_flag_definitions,
)
from benchmarks._harness import FakeServer, Row, Runner, finish, fmt, median

__all__ = ["FLAG_ROWS", "flag_steps", "flags_file"]

FLAG_ROWS: Final = ("3", "3e")
HARD_CONTEXTS: Final = 200
HARD_TARGET: Final = 0.125
EASY_TARGET: Final = 0.20
MIN_DECIDED: Final = 0.80
NOWHERE: Final = "http://127.0.0.1:9"  # never contacted: evaluation is local only

Step = tuple[set[str], Callable[[FakeServer], list[Row]]]


class FlagSizes(Protocol):
    """The fields of ``benchmarks.run.Sizes`` these rows read."""

    @property
    def reps(self) -> int: ...
    @property
    def flag_one_n(self) -> int: ...
    @property
    def flag_all_n(self) -> int: ...
    @property
    def check_contexts(self) -> int: ...


def flag_steps(runner: Runner, sizes: FlagSizes, workdir: Path) -> list[Step]:
    """The (row keys, measurement) pairs ``benchmarks.run`` schedules for these rows."""
    return [
        ({"3"}, lambda server: hard_flag_rows(runner, sizes, workdir)),
        ({"3e"}, lambda server: easy_flag_rows(runner, sizes, workdir)),
    ]


def flags_file(workdir: Path, count: int, n_contexts: int) -> str:
    """The easy mix with ``count`` definitions and ``n_contexts`` contexts, as a workload reads it."""
    path = workdir / f"flags-{count}.json"
    if not path.exists():
        path.write_text(
            json.dumps({"definitions": flag_definitions(count), "contexts": contexts(n_contexts)})
        )
    return str(path)


def _hard_flags_file(workdir: Path, n_fresh: int) -> str:
    """The hard mix, its pool of contexts and ``n_fresh`` more that the pool never holds."""
    path = workdir / f"flags-hard-{n_fresh}.json"
    if not path.exists():
        body = {
            "definitions": hard_flag_definitions(),
            "contexts": hard_contexts(HARD_CONTEXTS),
            "fresh_contexts": hard_contexts(n_fresh, first=HARD_CONTEXTS),
        }
        path.write_text(json.dumps(body))
    return str(path)


# --- row 3: the hard mix ----------------------------------------------------------------------------


def _differs(ref: Any, ours: Any) -> bool:
    """Whether ``ours`` breaks the three-way rule against 3.25.0's ``ref``: the same where 3.25.0
    decides; where it gives up (None, or a flag left out), ours may decide as 7.x does (that
    answer is checked against posthog 7.x by benchmarks/compare_flags_v7.py)."""
    if isinstance(ref, dict) and isinstance(ours, dict):
        return any(_differs(value, ours.get(key)) for key, value in ref.items())
    return ref is not None and ref != ours


def _extra_decisions(ref: list[dict[str, Any]], ours: list[dict[str, Any]]) -> int:
    """How many flags ours decides locally where 3.25.0 gives up (the 7.x rule)."""
    return sum(len(set(b["all"] or {}) - set(a["all"] or {})) for a, b in zip(ref, ours))


def _hard_mismatches(ref: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    found = [
        f"context {index} {call}"
        for index, (a, b) in enumerate(zip(ref["values"], ours["values"]))
        for call in ("all", "both")
        if _differs(a[call], b[call])
    ]
    found.extend(
        f"context {index} {key}"
        for index, (a, b) in enumerate(zip(ref["values"], ours["values"]))
        for key in a["one"]
        if _differs(a["one"][key], b["one"].get(key))
    )
    if not _extra_decisions(ref["values"], ours["values"]) and ref["spread"] != ours["spread"]:
        found.append(f"pool totals {ref['spread']} vs {ours['spread']}")
    return found


def _hard_note(checks: dict[str, dict[str, Any]]) -> str:
    decided = ", ".join(f"{name} {result['decided']:.1%}" for name, result in checks.items())
    low = [name for name, result in checks.items() if result["decided"] < MIN_DECIDED]
    if low:
        return f"INVALID: decided locally only {decided} (< {MIN_DECIDED:.0%})"
    spread = checks["ours"]["spread"]
    text = (
        f"decided locally {decided} of {HARD_CONTEXTS}x{HARD_FLAG_COUNT}; values "
        f"true {spread.get('true', 0)}, false {spread.get('false', 0)}, variant {spread.get('variant', 0)}"
    )
    if "ref" not in checks:
        return text
    wrong = _hard_mismatches(checks["ref"], checks["ours"])
    if wrong:
        return f"INVALID: {len(wrong)} results differ, e.g. {', '.join(wrong[:3])}"
    values = checks["ref"]["values"]
    checked = len(values) * (2 + len(values[0]["one"]))
    extra = _extra_decisions(values, checks["ours"]["values"])
    return (
        f"{text}; {checked} results identical where 3.25.0 decides ({len(values)} contexts, values "
        f"and payloads); {extra} more decided locally where 3.25.0 asks the server (7.x's answers)"
    )


def _cold_note(cold: dict[str, dict[str, list[float]]]) -> str:
    """The single-flag and get_all_flags times with contexts never met before (no warm caches)."""
    parts = []
    for label, samples in (("3a", cold["cold_one_us"]), ("3b", cold["cold_all_us"])):
        ours, ref = median(samples["ours"]), median(samples.get("ref", []))
        ratio = f" ratio {ours / ref:.3f}" if ref and ours is not None else ""
        parts.append(f"{label} ref {fmt(ref)} ours {fmt(ours)}{ratio}")
    return "each call a context never met before (µs): " + ", ".join(parts)


def hard_flag_rows(runner: Runner, sizes: FlagSizes, workdir: Path) -> list[Row]:
    """Row 3: the three local flag calls on the hard mix, each call with the next context."""
    rows = {
        "one_us": Row(
            "3",
            "flag_hard_one_us",
            f"3a. get_feature_flag, hard mix, {HARD_CONTEXTS} contexts",
            "µs/call",
            f"<={HARD_TARGET}",
        ),
        "all_us": Row("3", "flag_hard_all_us", "3b. get_all_flags, hard mix", "µs/call", f"<={HARD_TARGET}"),
        "payloads_us": Row(
            "3",
            "flag_hard_payloads_us",
            "3c. get_all_flags_and_payloads, hard mix",
            "µs/call",
            f"<={HARD_TARGET}",
        ),
    }
    params = {
        "url": NOWHERE,
        "flags_file": _hard_flags_file(workdir, 2 * sizes.flag_all_n),
        "n_one": sizes.flag_one_n,
        "n_all": sizes.flag_all_n,
        "check_contexts": sizes.check_contexts,
    }
    checks: dict[str, dict[str, Any]] = {}
    cold: dict[str, dict[str, list[float]]] = {"cold_one_us": {}, "cold_all_us": {}}
    for rep in range(sizes.reps):
        for side in runner.order(rep):
            result = runner.workload(side, "flags_hard", {**params, "check": rep == 0}, timeout=300)
            if rep == 0:
                checks[side.name] = result
            for field, row in rows.items():
                row.samples.setdefault(side.name, []).append(result[field])
            for field, samples in cold.items():
                samples.setdefault(side.name, []).append(result[field])
    note = _hard_note(checks)
    if not note.startswith("INVALID"):
        note += "; " + _cold_note(cold)
    first = rows["one_us"]
    for row in rows.values():
        row.note = note if row is first or note.startswith("INVALID") else f"checked with {first.name}"
    return [finish(row, limit=HARD_TARGET) for row in rows.values()]


# --- row 3e: the easy mix ---------------------------------------------------------------------------


def _mismatches(ref: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for index, (a, b) in enumerate(zip(ref, ours)):
        if _differs(a["all"] or {}, b["all"] or {}):
            found.append(f"context {index} get_all_flags")
        found.extend(
            f"context {index} {key}" for key in a["one"] if _differs(a["one"][key], b["one"].get(key))
        )
    return found


def easy_flag_rows(runner: Runner, sizes: FlagSizes, workdir: Path) -> list[Row]:
    """Row 3e: one get_feature_flag and get_all_flags over 50 easy definitions, values checked."""
    target = f"<={EASY_TARGET:.2f}"
    one = Row("3e", "flag_one_us", "3e-a. get_feature_flag, 50 defs, easy mix", "µs/call", target)
    every = Row("3e", "flag_all_us", "3e-b. get_all_flags, 50 defs, easy mix", "µs/call", target)
    params = {
        "url": NOWHERE,
        "flags_file": flags_file(workdir, 50, sizes.check_contexts),
        "n_one": sizes.flag_one_n,
        "n_all": sizes.flag_all_n,
    }
    values: dict[str, Any] = {}
    for rep in range(sizes.reps):
        for side in runner.order(rep):
            result = runner.workload(side, "flags", {**params, "check": rep == 0}, timeout=180)
            if rep == 0:
                values[side.name] = result["values"]
            one.samples.setdefault(side.name, []).append(result["one_us"])
            every.samples.setdefault(side.name, []).append(result["all_us"])
    if "ref" in values:
        wrong = _mismatches(values["ref"], values["ours"])
        if wrong:
            one.note = every.note = f"INVALID: {len(wrong)} results differ, e.g. {', '.join(wrong[:3])}"
        else:
            checked = len(values["ref"]) * (1 + len(values["ref"][0]["one"]))
            one.note = every.note = f"{checked} results identical"
    return [finish(one, limit=EASY_TARGET), finish(every, limit=EASY_TARGET)]
