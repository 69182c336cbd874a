"""Written-out cohorts (``cohort_code``) answer exactly as ``properties.match_cohort`` walks them.

On the differential generator's cohorts (nested, negated, AND/OR, cohorts inside cohorts,
unknown cohorts, malformed groups) and every context of the randomized mixes: the same value,
the same undecided reason, the same exception class. A cohort that refers to itself is left to
the walk, which raises where 3.25.0 recurses.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from benchmarks._rows_flags_random import random_mix
from posthog.feature_flags.cohort_code import cohort_test
from posthog.feature_flags.definitions import CohortFilter, FlagDefinitions
from posthog.feature_flags.evaluation import augment_properties
from posthog.feature_flags.properties import match_cohort


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "value", call()
    except Exception as exc:
        return "raised", type(exc).__name__


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_written_cohorts_answer_as_the_walk(seed: int) -> None:
    mix = random_mix(seed)
    body = mix["definitions"]
    snapshot = FlagDefinitions.parse(body["flags"], body["group_type_mapping"], body["cohorts"])
    table = snapshot.cohort_table
    people = [
        augment_properties(c["distinct_id"], {}, c["person_properties"], None)[0] for c in mix["contexts"]
    ]
    ids = [*table, "no-such-cohort"]
    written = compared = 0
    for cohort_id in ids:
        test = cohort_test(cohort_id, table)
        if test is None:
            continue
        written += 1
        leaf = CohortFilter(cohort_id)
        for person in people:
            ours = _outcome(lambda: test(person))  # noqa: B023
            assert ours == _outcome(lambda: match_cohort(leaf, person, table)), (cohort_id, person)  # noqa: B023
            compared += 1
    assert written >= len(ids) // 2 and compared > 1000


def test_a_cohort_that_refers_to_itself_is_left_to_the_walk() -> None:
    cohorts = {
        "1": {"type": "AND", "values": [{"type": "cohort", "value": 2}]},
        "2": {"type": "OR", "values": [{"type": "cohort", "value": 1}]},
        "3": {
            "type": "AND",
            "values": [{"key": "plan", "value": "pro", "operator": "exact", "type": "person"}],
        },
    }
    table = FlagDefinitions.parse([], {}, cohorts).cohort_table
    assert cohort_test("1", table) is None and cohort_test("2", table) is None
    plain = cohort_test("3", table)
    assert plain is not None
    assert plain({"plan": "pro"}) is True and plain({"plan": "free"}) is False
    assert cohort_test("3", table) is plain  # written once per table
