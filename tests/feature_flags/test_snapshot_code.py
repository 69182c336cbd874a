"""A snapshot written out as one function (``snapshot_code``) answers as the loop it replaces.

``all_flags_of(snapshot)`` must file the same values, in the same order, the same payloads and
the same undecided keys as ``flag_paths.walk_flags``, on the randomized mixes of bench row 3r
(50 generated flags with their cohorts, 200 contexts with groups) and on larger snapshots that
take several generated functions.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from benchmarks._rows_flags_random import random_mix
from posthog.feature_flags.definitions import FlagDefinitions
from posthog.feature_flags.evaluation import augment_properties
from posthog.feature_flags.flag_paths import walk_flags
from posthog.feature_flags.local import local_flags
from posthog.feature_flags.snapshot_code import all_flags_of, prepare
from tests.support.builders import FlagBuilder, prop


def _snapshot(definitions: dict[str, Any]) -> FlagDefinitions:
    return FlagDefinitions.parse(
        definitions["flags"], definitions["group_type_mapping"], definitions["cohorts"]
    )


def _both(snapshot: FlagDefinitions, context: dict[str, Any]) -> tuple[Any, Any]:
    groups = context["groups"] or {}
    person, group = augment_properties(
        context["distinct_id"], groups, context["person_properties"], context["group_properties"]
    )
    written: tuple[dict[str, Any], dict[str, Any], list[str]] = ({}, {}, [])
    all_flags_of(snapshot)(context["distinct_id"], groups, person, group, *written)
    walked: tuple[dict[str, Any], dict[str, Any], list[str]] = ({}, {}, [])
    walk_flags(snapshot, context["distinct_id"], groups, person, group, *walked)
    ordered = [(list(part.items()) if isinstance(part, dict) else part) for part in written]
    return ordered, [(list(part.items()) if isinstance(part, dict) else part) for part in walked]


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_the_written_snapshot_answers_as_the_loop(seed: int) -> None:
    mix = random_mix(seed)
    snapshot = _snapshot(mix["definitions"])
    assert all_flags_of(snapshot).__class__.__name__ == "function"
    decided = undecided = 0
    for context in mix["contexts"]:
        written, walked = _both(snapshot, context)
        assert written == walked, context
        decided += len(written[0])
        undecided += len(written[2])
    assert decided > 3000 and undecided > 1000  # both kinds of answer are compared


def test_a_large_snapshot_with_repeated_keys_takes_several_functions() -> None:
    """250 flags (three mixes' flags, keys repeated: the last one's value wins, as in 3.x)."""
    mixes = [random_mix(seed) for seed in (21, 22, 23, 24, 25)]
    definitions = {
        "flags": [flag for mix in mixes for flag in mix["definitions"]["flags"]],
        "group_type_mapping": mixes[0]["definitions"]["group_type_mapping"],
        "cohorts": {k: v for mix in mixes for k, v in mix["definitions"]["cohorts"].items()},
    }
    snapshot = _snapshot(definitions)
    assert len(snapshot.flags) == 250
    assert all_flags_of(snapshot).__class__.__name__ == "function"
    for context in mixes[0]["contexts"][:60]:
        written, walked = _both(snapshot, context)
        assert written == walked, context


def test_prepare_writes_the_snapshot_and_local_flags_uses_it() -> None:
    mix = random_mix(11)
    snapshot = prepare(_snapshot(mix["definitions"]))
    made = snapshot.all_flags
    assert made is not None and all_flags_of(snapshot) is made  # written once, kept
    context = mix["contexts"][0]
    person, group = augment_properties(
        context["distinct_id"], context["groups"], context["person_properties"], None
    )
    values, _, keys = local_flags(snapshot, context["distinct_id"], context["groups"], person, group)
    assert keys is not None and len(values) + len(keys) == len({flag.key for flag in snapshot.flags})


def test_a_snapshot_that_cannot_be_written_keeps_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from posthog.feature_flags import snapshot_code

    def refuse(*args: Any) -> Any:
        raise RecursionError("too deep")

    monkeypatch.setattr(snapshot_code, "make_function", refuse)
    mix = random_mix(12)
    snapshot = _snapshot(mix["definitions"])
    made = all_flags_of(snapshot)
    assert made.__class__.__name__ == "partial"
    for context in mix["contexts"][:20]:
        written, walked = _both(snapshot, context)
        assert written == walked


def test_definition_text_never_becomes_code_in_the_snapshot() -> None:
    hostile = '"); import os; os._exit(3)  # '
    raw = {
        "key": hostile,
        "active": True,
        "filters": {
            "groups": [{"properties": [{"key": hostile, "value": hostile, "operator": "exact"}]}],
            "payloads": {"true": hostile},
        },
    }
    off = {"key": hostile + "off", "active": False, "filters": {"payloads": {"False": hostile}}}
    snapshot = FlagDefinitions.parse([raw, off], {}, {})
    values: dict[str, Any] = {}
    payloads: dict[str, Any] = {}
    all_flags_of(snapshot)("u", {}, {hostile: hostile}, {}, values, payloads, [])
    assert values == {hostile: True, hostile + "off": False}
    assert payloads == {hostile: hostile, hostile + "off": hostile}


def test_on_an_event_loop_the_flags_are_walked_not_written_out_at_once() -> None:
    """Writing 50 flags out is tens of milliseconds the first time: on a running event loop
    (AsyncPosthog starts no thread to do it) the flags are walked, each compiled when met."""
    import asyncio

    mix = random_mix(13)
    on_loop = _snapshot(mix["definitions"])
    off_loop = _snapshot(mix["definitions"])
    contexts = mix["contexts"][:30]

    def answers(snapshot: FlagDefinitions) -> list[Any]:
        out = []
        for context in contexts:
            person, group = augment_properties(
                context["distinct_id"],
                context["groups"],
                context["person_properties"],
                context["group_properties"],
            )
            out.append(local_flags(snapshot, context["distinct_id"], context["groups"], person, group))
        return out

    async def main() -> list[Any]:
        return answers(on_loop)

    walked = asyncio.run(main())
    assert on_loop.all_flags is None  # nothing written out on the loop
    assert walked == answers(off_loop)
    assert off_loop.all_flags is not None


def test_a_person_flag_whose_passes_are_not_written_as_one_gets_7x_answer() -> None:
    """A flag that depends on another has no 7.x plan to write out: after 3.25.0's rules leave
    it undecided, the general 7.x pass decides it, as in the loop."""
    base = {
        "key": "base",
        "active": True,
        "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]},
    }
    dependency = {"key": "base", "type": "flag", "operator": "flag_evaluates_to", "value": True}
    dependent = {
        "key": "dependent",
        "active": True,
        "filters": {"groups": [{"properties": [{**dependency, "dependency_chain": ["base"]}]}]},
    }
    snapshot = FlagDefinitions.parse([base, dependent], {}, {})
    written, walked = _both(
        snapshot, {"distinct_id": "u1", "groups": {}, "person_properties": {}, "group_properties": {}}
    )
    assert written == walked
    assert written[0] == [("base", True), ("dependent", True)]  # decided by 7.x's pass


def test_a_person_flag_whose_3x_rules_raise_gets_7x_answer_and_the_error_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As ``evaluate_flag``: 3.25.0's rules raising (a list compared with a number) is undecided
    for 3.25.0; 7.x's pass answers, and only when it does not decide either is the error logged."""
    raising = {"key": "age", "operator": "gt", "value": 10, "type": "person"}
    flags = [
        {  # 7.x undecided too (a property nobody gives): the error is logged
            "key": "raises-then-undecided",
            "active": True,
            "filters": {
                "groups": [{"properties": [raising]}, {"properties": [{"key": "nope", "value": "x"}]}]
            },
        },
        {  # 7.x decides: semver_gt, which 3.25.0 does not know
            "key": "raises-then-7x",
            "active": True,
            "filters": {
                "groups": [
                    {"properties": [{"key": "version", "operator": "semver_gt", "value": "1.0.0"}]},
                    {"properties": [raising]},
                ]
            },
        },
    ]
    snapshot = prepare(FlagDefinitions.parse(flags, {}, {}))
    context = {
        "distinct_id": "u1",
        "groups": {},
        "person_properties": {"age": [1, 2], "version": "2.0.0"},
        "group_properties": {},
    }
    with caplog.at_level(logging.DEBUG, logger="posthog"):
        values: dict[str, Any] = {}
        undecided: list[str] = []
        all_flags_of(snapshot)(
            "u1", {}, {"distinct_id": "u1", **context["person_properties"]}, {}, values, {}, undecided
        )
    assert values == {"raises-then-7x": True} and undecided == ["raises-then-undecided"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert _both(snapshot, context)[1] == [list(values.items()), [], undecided]  # as the loop
    assert errors == [
        "[FEATURE FLAGS] flag raises-then-undecided: error while computing the flag locally: "
        "TypeError(\"'>' not supported between instances of 'list' and 'float'\")"
    ]


@pytest.mark.parametrize("group", [False, True])
def test_a_variant_picked_when_the_flag_runs_is_filed_with_its_payload(group: bool) -> None:
    """40 variants are more than the written code spells out (``SV`` picks one when it runs):
    every user gets a variant and that variant's payload (or none), as in the loop; a context
    without the property is undecided."""
    builder = FlagBuilder("many").condition([prop("plan", "pro")], rollout=80)
    builder.variants(*[(f"v{k}", 2.5) for k in range(40)])
    for k in range(0, 40, 3):
        builder.payload(f"v{k}", f'{{"variant": {k}}}')
    builder.payload("true", '"not a variant"')
    if group:
        builder.group(0)
    snapshot = FlagDefinitions.parse([builder.build()], {"0": "company"}, {})
    seen: set[Any] = set()
    filed_payloads = 0
    for index in range(300):
        plan = "pro" if index % 3 else None
        properties = {} if plan is None else {"plan": plan}
        context = {
            "distinct_id": f"user-{index}",
            "groups": {"company": f"co-{index}"} if group else {},
            "person_properties": {} if group else properties,
            "group_properties": {"company": properties} if group else {},
        }
        written, walked = _both(snapshot, context)
        assert written == walked, context
        values, payloads, undecided = written
        if plan is None:
            assert undecided == ["many"] and not values
            continue
        value = dict(values)["many"]
        seen.add(value)
        filed_payloads += bool(payloads)
        has_payload = value is not False and int(value[1:]) % 3 == 0
        assert dict(payloads) == ({"many": f'{{"variant": {value[1:]}}}'} if has_payload else {})
    assert False in seen and len(seen) > 20
    assert filed_payloads > 20
