"""Row 3r: local flags on randomized mixes, from the differential generator (not hand-written).

For each of ``SEEDS``, ``benchmarks/compare_flags.Generator`` draws 50 flag definitions (every
operator with type-confused values, cohorts nested and negated, group flags, relative and
absolute dates, regexes, multivariate flags with payloads, a few malformed shapes) and 200
contexts (each the properties drawn for another generated flag, so a flag meets the properties
it targets and strangers'). Dates become ISO text, as they arrive from a JSON request.

- 3r-a: µs per ``get_feature_flag`` (the key rotating over the 50, a new context every 50 calls);
  target >= 5x the reference (ratio <= 0.20);
- 3r-b: µs per ``get_all_flags``, a new context every call; target >= 8x (ratio <= 0.125).

The ratio is the median over the seeds' runs. Each seed's values are checked for every
(flag, context) pair: identical wherever 3.25.0 decides (where it asks the server, ours may
answer as 7.x does: ``benchmarks/compare_flags_v7.py``); a difference marks the rows INVALID.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from benchmarks._harness import FakeServer, Row, Runner, finish
from benchmarks._rows_flags import NOWHERE, FlagSizes, _mismatches
from benchmarks.compare_flags import Generator

__all__ = ["RANDOM_ROW", "random_flag_step"]

RANDOM_ROW: Final = "3r"
SEEDS: Final = (11, 12, 13)
FLAG_COUNT: Final = 50
CONTEXT_COUNT: Final = 200
ONE_TARGET: Final = 0.20
ALL_TARGET: Final = 0.125
_COHORT_STRIDE: Final = 100  # each generated flag's cohort ids are moved to their own range

Step = tuple[set[str], Callable[[FakeServer], list[Row]]]


def _jsonable(value: Any) -> Any:
    """Dates as ISO text (the generator makes Python dates for the date operators)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _renumber(node: Any, offset: int) -> Any:
    """Move cohort references (``{"type": "cohort", "value": id}``) by ``offset``."""
    if isinstance(node, dict):
        moved = {key: _renumber(item, offset) for key, item in node.items()}
        if node.get("type") == "cohort" and isinstance(node.get("value"), int):
            moved["value"] = node["value"] + offset
        return moved
    if isinstance(node, list):
        return [_renumber(item, offset) for item in node]
    return node


def random_mix(seed: int) -> dict[str, Any]:
    """50 generated definitions (with their cohorts) and 200 contexts, as a workload reads them."""
    generator = Generator(seed, malformed=0.05)
    cases = [generator.case(i) for i in range(FLAG_COUNT + CONTEXT_COUNT)]
    flags: list[Any] = []
    cohorts: dict[str, Any] = {}
    for index, case in enumerate(cases[:FLAG_COUNT]):
        offset = _COHORT_STRIDE * (index + 1)
        flags.extend(_renumber(case["flags"], offset))
        for cohort_id, group in case["cohorts"].items():
            key = str(int(cohort_id) + offset) if str(cohort_id).isdigit() else cohort_id
            cohorts[key] = _renumber(group, offset)
    contexts = [
        {
            "distinct_id": case["distinct_id"],
            "groups": case["groups"],
            "person_properties": case["person_properties"],
            "group_properties": case["group_properties"],
        }
        for case in cases[FLAG_COUNT:]
    ]
    definitions = {"flags": flags, "group_type_mapping": cases[0]["group_type_mapping"], "cohorts": cohorts}
    return _jsonable({"definitions": definitions, "contexts": contexts})


def _mix_file(workdir: Path, seed: int) -> str:
    path = workdir / f"flags-random-{seed}.json"
    if not path.exists():
        path.write_text(json.dumps(random_mix(seed)))
    return str(path)


def random_flag_step(runner: Runner, sizes: FlagSizes, workdir: Path) -> Step:
    """The (row keys, measurement) pair ``benchmarks.run`` schedules for row 3r."""
    return {RANDOM_ROW}, lambda server: random_flag_rows(runner, sizes, workdir)


def random_flag_rows(runner: Runner, sizes: FlagSizes, workdir: Path) -> list[Row]:
    """Rows 3r-a and 3r-b: single flag and get_all_flags over randomized mixes, values checked."""
    one = Row(
        RANDOM_ROW,
        "flag_random_one_us",
        "3r-a. get_feature_flag, 50 generated defs",
        "µs/call",
        f"<={ONE_TARGET}",
    )
    every = Row(
        RANDOM_ROW,
        "flag_random_all_us",
        "3r-b. get_all_flags, 50 generated defs",
        "µs/call",
        f"<={ALL_TARGET}",
    )
    problems: list[str] = []
    checked = 0
    for seed in SEEDS:
        params = {
            "url": NOWHERE,
            "flags_file": _mix_file(workdir, seed),
            "n_one": sizes.flag_one_n,
            "n_all": max(sizes.flag_all_n, CONTEXT_COUNT),
        }
        values: dict[str, Any] = {}
        for rep in range(max(1, sizes.reps - 1)):
            for side in runner.order(rep):
                result = runner.workload(side, "flags", {**params, "check": rep == 0}, timeout=300)
                if rep == 0:
                    values[side.name] = result["values"]
                one.samples.setdefault(side.name, []).append(result["one_us"])
                every.samples.setdefault(side.name, []).append(result["all_us"])
        if "ref" in values:
            wrong = _mismatches(values["ref"], values["ours"])
            problems.extend(f"seed {seed}: {item}" for item in wrong[:3])
            checked += len(values["ref"]) * (1 + len(values["ref"][0]["one"]))
    note = f"seeds {', '.join(map(str, SEEDS))}; {checked} results identical where 3.25.0 decides"
    if problems:
        note = f"INVALID: results differ: {'; '.join(problems)}"
    one.note = every.note = note
    return [finish(one, limit=ONE_TARGET), finish(every, limit=ALL_TARGET)]
