"""Capture enrichment skips only flags that cannot be decided without the caller's properties.

api.md §5 step 4: captures get ``$feature/<key>`` for every flag decided locally with only the
automatic properties. The resolver evaluates a precomputed subset; it must give the same result
as evaluating every flag.
"""

from __future__ import annotations

import pytest

import posthog
from benchmarks import _data
from posthog.feature_flags import enrichment
from posthog.feature_flags.evaluation import Inconclusive, augment_properties, evaluate_flag


@pytest.mark.parametrize("count", [20, 50, 200])
def test_enrichment_equals_evaluating_every_flag(count: int) -> None:
    body = _data.flag_definitions(count)
    client = posthog.Client("phc_test", send=False)
    client.group_type_mapping = body["group_type_mapping"]
    client.cohorts = body["cohorts"]
    client.feature_flags = body["flags"]
    snapshot = client._flags.source.snapshot
    assert snapshot is not None
    assert 0 < len(enrichment.enrichable_flags(snapshot)) <= len(snapshot.flags)

    for i in range(200):
        distinct_id = f"user-{i}"
        groups = {"company": f"c{i % 7}"} if i % 3 == 0 else {}
        person, group = augment_properties(distinct_id, groups, None, None)
        every = {}
        for flag in snapshot.flags:
            value = evaluate_flag(flag, snapshot, distinct_id, groups, person, group)
            if not isinstance(value, Inconclusive):
                every[flag.key] = value

        got = enrichment.local_flag_properties(snapshot, distinct_id, groups)

        assert got == enrichment.flag_properties(every), distinct_id


def test_flags_needing_caller_properties_are_skipped() -> None:
    body = _data.flag_definitions(50)
    client = posthog.Client("phc_test", send=False)
    client.group_type_mapping = body["group_type_mapping"]
    client.cohorts = body["cohorts"]
    client.feature_flags = body["flags"]
    snapshot = client._flags.source.snapshot
    assert snapshot is not None

    # The mixed definitions include person-property and continuity flags: those are left out.
    assert len(enrichment.enrichable_flags(snapshot)) < len(snapshot.flags)
