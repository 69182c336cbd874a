"""One flag's call written out as one function (``single_code``) answers as the walk it replaces.

``single_of(flag, snapshot)`` must answer every (flag, context) pair of the randomized mixes of
bench row 3r as ``flag_paths.walk_flag`` does (same value, same undecided), for every kind of
flag: inactive, continuity, person, group (given or not), malformed.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import pytest

from benchmarks._rows_flags_random import random_mix
from posthog.feature_flags.definitions import FlagDefinitions
from posthog.feature_flags.flag_paths import KNOWN_UNDECIDED, walk_flag
from posthog.feature_flags.single_code import single_of
from posthog.feature_flags.snapshot_code import prepare


def _snapshot(seed: int) -> tuple[FlagDefinitions, list[dict[str, Any]]]:
    mix = random_mix(seed)
    body = mix["definitions"]
    return FlagDefinitions.parse(body["flags"], body["group_type_mapping"], body["cohorts"]), mix["contexts"]


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_each_written_flag_answers_as_the_walk(seed: int) -> None:
    snapshot, contexts = _snapshot(seed)
    written = sum(single_of(flag, snapshot).__class__.__name__ == "function" for flag in snapshot.flags)
    assert written >= 40  # most flags are written out; the rest keep the walk
    decided = undecided = 0
    for context in contexts:
        call = (
            context["distinct_id"],
            context["groups"] or {},
            context["person_properties"],
            context["group_properties"],
        )
        for flag in snapshot.flags:
            ours = single_of(flag, snapshot)(*call)
            assert ours == walk_flag(snapshot, flag, *call), (flag.raw, context)
            assert type(ours) is type(walk_flag(snapshot, flag, *call))
            decided += ours is not None
            undecided += ours is None
    assert decided > 3000 and undecided > 1000


def test_the_properties_a_flag_reads_are_the_callers_and_never_changed() -> None:
    """A person flag that reads ``distinct_id`` gets it added to a copy; the caller's dict and
    a group's properties are never written to."""
    snapshot = prepare(
        FlagDefinitions.parse(
            [
                {
                    "key": "me",
                    "active": True,
                    "filters": {
                        "groups": [
                            {
                                "properties": [
                                    {
                                        "key": "distinct_id",
                                        "value": "u1",
                                        "operator": "exact",
                                        "type": "person",
                                    }
                                ]
                            }
                        ]
                    },
                },
                {
                    "key": "org",
                    "active": True,
                    "filters": {
                        "aggregation_group_type_index": 0,
                        "groups": [
                            {
                                "properties": [
                                    {"key": "plan", "value": "pro", "operator": "exact", "type": "group"}
                                ]
                            }
                        ],
                    },
                },
            ],
            {"0": "company"},
            {},
        )
    )
    person = {"email": "a@b.c"}
    by_group = {"company": {"plan": "pro"}}
    me, org = (snapshot.flag_table[key] for key in ("me", "org"))
    assert single_of(me, snapshot)("u1", {}, person, None) is True
    assert single_of(me, snapshot)("u2", {}, person, None) is False
    assert single_of(org, snapshot)("u1", {"company": "acme"}, None, by_group) is True
    assert single_of(org, snapshot)("u1", {}, None, by_group) is False  # the group not given
    assert person == {"email": "a@b.c"} and by_group == {"company": {"plan": "pro"}}


def test_an_undecided_flag_is_said_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    snapshot = prepare(
        FlagDefinitions.parse(
            [
                {
                    "key": "f",
                    "active": True,
                    "filters": {
                        "groups": [
                            {
                                "properties": [
                                    {"key": "plan", "value": "pro", "operator": "exact", "type": "person"}
                                ]
                            }
                        ]
                    },
                }
            ],
        )
    )
    single = single_of(snapshot.flag_table["f"], snapshot)
    with caplog.at_level(logging.DEBUG, logger="posthog"):
        assert single("u1", {}, {"email": "x"}, None) is None  # "plan" not given: undecided
    assert "flag f could not be decided locally" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="posthog"):
        assert single("u1", {}, {"email": "x"}, None) is None
    assert caplog.text == ""
    # debug turned on again after an answer "off" was remembered: said again
    with caplog.at_level(logging.DEBUG, logger="posthog"):
        assert single("u1", {}, {"email": "x"}, None) is None
    assert "flag f could not be decided locally" in caplog.text

    # a disabled logger (dictConfig disables the loggers it does not name) says nothing and is
    # not asked (it never fills the cache of answers read first); enabled again, it is asked
    logger = logging.getLogger("posthog")
    asked: list[int] = []
    real = logger.isEnabledFor
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logger, "isEnabledFor", lambda level: asked.append(level) or real(level))
        fresh = prepare(FlagDefinitions.parse([snapshot.flag_table["f"].raw]))
        single = single_of(fresh.flag_table["f"], fresh)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="posthog"):
            logger._cache.clear()  # as a change of level does
            logger.disabled = True
            asked.clear()
            try:
                assert single("u1", {}, {"email": "x"}, None) is None
                assert caplog.text == "" and asked == []
            finally:
                logger.disabled = False
            assert single("u1", {}, {"email": "x"}, None) is None
    assert asked and "flag f could not be decided locally" in caplog.text


def test_a_group_flag_whose_rules_raise_gets_7x_answer() -> None:
    """Comparing a list with a number raises in 3.25.0's rules: the flag is then decided by
    7.x's (where the comparison fails and the next condition, everyone, matches), as the walk
    decides it."""
    snapshot = prepare(
        FlagDefinitions.parse(
            [
                {
                    "key": "org",
                    "active": True,
                    "filters": {
                        "aggregation_group_type_index": 0,
                        "groups": [
                            {"properties": [{"key": "n", "value": 5, "operator": "gt", "type": "group"}]},
                            {"properties": [], "rollout_percentage": 100},
                        ],
                    },
                }
            ],
            {"0": "company"},
            {},
        )
    )
    flag = snapshot.flag_table["org"]
    call = ("u1", {"company": "acme"}, None, {"company": {"n": [1]}})
    assert walk_flag(snapshot, flag, *call) is True
    assert single_of(flag, snapshot)(*call) is True


def test_a_group_flag_neither_pass_can_read_answers_and_says_as_the_walk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    snapshot = prepare(
        FlagDefinitions.parse(
            [
                {
                    "key": "broken",
                    "active": True,
                    "filters": {
                        "aggregation_group_type_index": 0,
                        "groups": [{"properties": [], "rollout_percentage": 100}],
                        "multivariate": {"variants": [{"rollout_percentage": 100}]},  # no key
                    },
                }
            ],
            {"0": "company"},
            {},
        )
    )
    flag = snapshot.flag_table["broken"]
    assert flag.conditions_error is not None and not flag.newer_only_conditions
    single = single_of(flag, snapshot)
    assert single.__class__.__name__ == "function"

    def said(call: Any) -> list[str]:  # the debug lines (the definition's warning is said once)
        return [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]

    for call in [("u1", {"company": "acme"}, None, None), ("u1", {}, None, None)]:
        with caplog.at_level(logging.DEBUG, logger="posthog"):
            walked = walk_flag(snapshot, flag, *call)
            said_by_walk = said(call)
            caplog.clear()
            assert single(*call) == walked
            assert said(call) == said_by_walk
            caplog.clear()
    assert single("u1", {"company": "acme"}, None, None) is None
    assert single("u1", {}, None, None) is False


def test_a_flag_no_context_can_decide_says_why_once_then_answers_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    snapshot = prepare(
        FlagDefinitions.parse(
            [{"key": "lost", "active": True, "filters": {"aggregation_group_type_index": 5, "groups": []}}],
            {"0": "company"},
            {},
        )
    )
    flag = snapshot.flag_table["lost"]
    assert flag.undecidable
    single = single_of(flag, snapshot)
    assert single.__class__.__name__ == "function"  # written out, not the walk
    call = ("u1", {"company": "acme"}, None, None)
    with caplog.at_level(logging.DEBUG, logger="posthog"):
        assert single(*call) is None  # the first call takes the walk, which says why
        first = [r.getMessage() for r in caplog.records]
        caplog.clear()
        assert single(*call) is None
        later = [r.getMessage() for r in caplog.records]
        caplog.clear()
        assert walk_flag(snapshot, flag, *call) is None
        walked = [r.getMessage() for r in caplog.records]
    assert any("unknown group type index 5" in line for line in first)
    assert flag.known_undecided
    assert later == walked == [f"flag lost could not be decided locally: {KNOWN_UNDECIDED.reason}"]


@pytest.mark.parametrize("group", [False, True])
def test_rules_that_raise_and_7x_undecided_log_and_say_as_the_walk(
    group: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """3.25.0's rules raise (a list compared with a number), 7.x's pass does not decide (a
    property nobody gives): None, the error logged once and the reason said at debug, as the
    walk (``evaluate_flag``) logs and says them."""
    kind = "group" if group else "person"
    filters: dict[str, Any] = {
        "groups": [
            {"properties": [{"key": "n", "value": 5, "operator": "gt", "type": kind}]},
            {"properties": [{"key": "absent", "value": "x", "type": kind}]},
        ]
    }
    if group:
        filters["aggregation_group_type_index"] = 0
    call: tuple[Any, ...] = (
        ("u1", {"company": "acme"}, None, {"company": {"n": [1]}}) if group else ("u1", {}, {"n": [1]}, None)
    )
    lines = {}
    for side in ("single", "walk"):
        key = f"raises-{kind}-{side}"  # the error is logged once per flag: a key per side
        snapshot = prepare(
            FlagDefinitions.parse([{"key": key, "active": True, "filters": filters}], {"0": "company"}, {})
        )
        flag = snapshot.flag_table[key]
        answer = single_of(flag, snapshot) if side == "single" else partial(walk_flag, snapshot, flag)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="posthog"):
            assert answer(*call) is None
        lines[side] = [(r.levelno, r.getMessage().replace(key, "KEY")) for r in caplog.records]
    assert lines["single"] == lines["walk"]
    assert [level for level, _ in lines["single"]] == [logging.ERROR, logging.DEBUG]


def test_a_group_flag_without_its_group_is_off_and_said_as_the_walk(caplog: pytest.LogCaptureFixture) -> None:
    group_filter = {"key": "plan", "value": "pro", "type": "group"}
    definition = {"aggregation_group_type_index": 0, "groups": [{"properties": [group_filter]}]}
    snapshot = prepare(
        FlagDefinitions.parse([{"key": "org", "active": True, "filters": definition}], {"0": "company"}, {})
    )
    flag = snapshot.flag_table["org"]
    single = single_of(flag, snapshot)
    assert single.__class__.__name__ == "function"
    said = {}
    for side, answer in (("single", single), ("walk", partial(walk_flag, snapshot, flag))):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="posthog"):
            assert answer("u1", {"project": "p1"}, None, {"company": {"plan": "pro"}}) is False
        said[side] = [r.getMessage() for r in caplog.records]
    assert (
        said["single"]
        == said["walk"]
        == ["[FEATURE FLAGS] group flag org needs group 'company', which was not passed"]
    )
    assert single("u1", {"company": "acme"}, None, {"company": {"plan": "pro"}}) is True
