"""One flag's ``get_feature_flag`` as straight-line Python: everything the call does, one function.

:func:`.flag_paths.walk_flag` answers one flag: it reads what kind of flag it is, builds the
properties its kind reads, runs 3.25.0's rules, then (undecided) 7.x's, with a call per step.
:func:`single_of` writes that out once per flag, for the kinds that matter:

- an inactive flag answers ``False``;
- an active flag that ensures experience continuity answers None (the server decides), with
  the debug line the walk logs;
- a plain person flag, or a plain group flag of a known group type, builds the properties it
  reads, runs its conditions, then its 7.x plan, inline (:mod:`.whole_code`'s two passes);
- a flag no context can decide takes the walk once (which says why), then answers None;
- anything else (and a group not given) takes the walk. Where 3.25.0's rules raise, 7.x's pass
  answers; undecided, the error is logged once and said at debug, as the walk does.

The answers are the walk's, by construction (tested against it on the differential
generator's cases). The source holds structure only (:mod:`._codegen`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final, Optional

from ._codegen import make_function
from .definitions import FlagDefinition, FlagDefinitions
from .evaluation import CONTINUITY, log_local_error
from .flag_paths import KNOWN_UNDECIDED, walk_flag
from .whole_code import two_passes

__all__ = ["SingleFn", "single_of"]

log = logging.getLogger("posthog")

#: ``(distinct_id, groups, person_properties, group_properties)`` → the flag's value, or None
SingleFn = Callable[[Any, Mapping[str, Any], Optional[Mapping[str, Any]], Any], Any]

_UNDECIDED_LINE: Final = "flag %s could not be decided locally"
#: whether debug lines are logged, with no call at all when the logger already knows (its cache
#: of answers, or ``disabled``: a logger that dictConfig disabled never fills that cache)
_DEBUG_ON: Final = "KNOWN_LEVELS.get(10, True) and not LOG.disabled and DEBUG_ON(10)"
#: None, said at debug; after an error in 3.25.0's rules (``err``), the error logged once and
#: said at debug, as the walk does
_UNDECIDED_SAID: Final = f"(UE(KEY, err) if err is not None else UL(KEY) if {_DEBUG_ON} else None)"
#: the lines that say at debug why the flag is not decided locally (``WHY``), as the walk says it
_WHY_SAID: Final = [
    f"    if {_DEBUG_ON}:",
    "        LD('flag %s could not be decided locally: %s', KEY, WHY)",
]


#: a group flag whose group was not passed: off, said at debug as evaluate_flag says it
_GROUP_NOT_GIVEN: Final = [
    "    if NAME not in groups:",
    f"        if {_DEBUG_ON}:",
    "            LD('[FEATURE FLAGS] group flag %s needs group %r, which was not passed', KEY, NAME)",
    "        return False",
]


def _undecided(key: str) -> None:
    """Say at debug that neither pass decides (called when debug logging is on)."""
    log.debug(_UNDECIDED_LINE, key)


def _undecided_after(key: str, error: Exception) -> None:
    """3.25.0's rules raised ``error`` and 7.x's pass does not decide: the error logged (once)
    and the flag said undecided at debug, as :func:`.evaluation.evaluate_flag` and the walk do."""
    log_local_error(key, error)
    log.debug("flag %s could not be decided locally: %s", key, f"{type(error).__name__}: {error}")


def single_of(flag: FlagDefinition, snapshot: FlagDefinitions) -> SingleFn:
    """``flag``'s single-flag call as one function, written on first use and kept on the
    definition (which belongs to ``snapshot`` alone)."""
    made: Optional[SingleFn] = flag.single
    if made is None:
        try:
            made = _compile(flag, snapshot)
        except Exception:  # whatever cannot be written out keeps the walk
            made = None
        if made is None:
            made = partial(walk_flag, snapshot, flag)
        object.__setattr__(flag, "single", made)  # a race writes the same code twice
    return made


def _compile(flag: FlagDefinition, snapshot: FlagDefinitions) -> Optional[SingleFn]:
    names: dict[str, Any] = {
        "KEY": flag.key,
        "FLAG": flag,
        "FULL": partial(walk_flag, snapshot, flag),
        "UL": _undecided,
        "UE": _undecided_after,
        "LOG": log,
        "DEBUG_ON": log.isEnabledFor,
        # the logger's own answers to isEnabledFor, which logging clears when a level changes
        # (CPython keeps them in Logger._cache; without it, isEnabledFor is asked every time)
        "KNOWN_LEVELS": getattr(log, "_cache", {}),
    }
    label = f"get_feature_flag {flag.key!r:.80}"
    if not flag.active:
        return _made(["def single(did, groups, pp, gp):", "    return False"], names, label)
    if flag.undecidable:
        # the walk says why once (and marks the flag known); then only that it is not decided
        names["LD"], names["WHY"] = log.debug, KNOWN_UNDECIDED.reason
        lines = [
            "def single(did, groups, pp, gp):",
            "    if not FLAG.known_undecided:",
            "        return FULL(did, groups, pp, gp)",
            *_WHY_SAID,
            "    return None",
        ]
        return _made(lines, names, label)
    if flag.ensure_experience_continuity:
        names["LD"], names["WHY"] = log.debug, CONTINUITY.reason
        return _made(["def single(did, groups, pp, gp):", *_WHY_SAID, "    return None"], names, label)
    if not flag.plain:
        return None
    person = flag.group_type_key is None
    if not person and flag.conditions_error is not None and not flag.newer_only_conditions:
        return _unreadable_group(flag, snapshot, names, label)
    # 3.25.0's rules raising: 7.x's pass, as evaluation.evaluate_flag runs it on the walk's path
    passes = two_passes(flag, snapshot.cohort_table, names, _UNDECIDED_SAID)
    if passes is None:
        return None
    if person:
        names["cohorts"] = snapshot.cohort_table
        if flag.key in snapshot.reads_distinct_id:
            head = ["    p = {'distinct_id': did}", "    if pp:", "        p.update(pp)"]
        else:
            head = ["    p = pp if pp is not None else {'distinct_id': did}"]
        head.append("    bid = did")
    else:
        group_name = snapshot.group_type_mapping.get(flag.group_type_key or "")
        if group_name is None:
            return None
        names["cohorts"], names["NAME"] = None, group_name  # group flags never read cohorts
        names["LD"] = log.debug
        head = [
            *_GROUP_NOT_GIVEN,
            "    bid = groups[NAME]",
            "    own = gp.get(NAME) if gp else None",
            "    p = {'$group_key': bid}",
            "    if own:",
            "        p.update(own)",
        ]
    return _made(["def single(did, groups, pp, gp):", *head, *passes], names, label)


def _unreadable_group(
    flag: FlagDefinition, snapshot: FlagDefinitions, names: dict[str, Any], label: str
) -> Optional[SingleFn]:
    """A group flag whose conditions neither pass can read: off without its group (as the walk
    says it), undecided with it, with the walk's debug line."""
    group_name = snapshot.group_type_mapping.get(flag.group_type_key or "")
    if group_name is None:
        return None
    names["NAME"], names["LD"] = group_name, log.debug
    names["WHY"] = f"malformed definition: {flag.conditions_error}"
    lines = [
        "def single(did, groups, pp, gp):",
        *_GROUP_NOT_GIVEN,
        *_WHY_SAID,
        "    return None",
    ]
    return _made(lines, names, label)


def _made(lines: list[str], names: dict[str, Any], label: str) -> SingleFn:
    made: SingleFn = make_function(lines, names, label)
    return made
