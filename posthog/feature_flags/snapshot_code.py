"""A snapshot's ``get_all_flags`` as straight-line Python: one block per flag, no loop.

:func:`.local.local_flags` walks the snapshot's flags and, for each, reads what kind of flag it
is (active, continuity, person or group, its compiled conditions, its 7.x plan, its payloads)
before evaluating it. None of that changes while the snapshot serves, so :func:`all_flags_of`
writes it out once: per flag, only the calls its kind needs, with its functions, key, group
name and payloads bound as names. What every kind of flag answers is decided at write time:

- an inactive flag is off, whatever the context (its payload for ``False`` is looked up once);
- an active flag that ensures experience continuity needs the server;
- a group flag whose group was not given is off; with its group, one whose conditions neither
  pass can read is undecided;
- a plain person flag runs its compiled conditions, then (when 3.25.0's rules leave it
  undecided) its compiled 7.x plan, in one call (:mod:`.whole_code`);
- anything else takes :func:`.flag_paths.evaluated`, as the loop does.

The answers, their order and the keys left undecided are those of the loop
(:func:`.flag_paths.walk_flags`), by construction (tested against it on the differential
generator's cases). The source holds structure only: every
value is a name bound in the function's namespace (:mod:`._codegen`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final

from ._codegen import make_function
from .compiled import conditions_of
from .definitions import FlagDefinition, FlagDefinitions
from .evaluation import Inconclusive, lookup_payload
from .flag_paths import NO_PERSON, UNDECIDED, evaluated, group_flag, newer_person, walk_flags
from .newer_plan import plan_for
from .properties import Undecided
from .single_code import single_of
from .whole_code import whole_of

__all__ = ["AllFlagsFn", "all_flags_of", "prepare"]

#: ``(distinct_id, groups, person, group, values, payloads, undecided)``: fills the three
AllFlagsFn = Callable[
    [Any, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], dict[str, Any], dict[str, Any], list[str]],
    None,
]

_GIVEN_GROUP: Final = "NOP if o is None else o"  # the group's properties (o), as evaluate_flag reads them
_CHUNK: Final = 100  # flags per generated function: a huge function compiles slowly


def all_flags_of(snapshot: FlagDefinitions) -> AllFlagsFn:
    """The snapshot's flags as one function, written on first use and kept on the snapshot."""
    made: Any = snapshot.all_flags
    if made is None:
        try:
            made = _compile(snapshot)
        except Exception:  # whatever cannot be written out keeps the loop
            made = partial(walk_flags, snapshot)
        object.__setattr__(snapshot, "all_flags", made)  # a race writes the same code twice
    return made  # type: ignore[no-any-return]


def prepare(snapshot: FlagDefinitions) -> FlagDefinitions:
    """Compile a snapshot's flags (conditions, 7.x plans, then all of them as one function) before
    it serves, so that the first flag calls do not pay for it (called on the thread that fetched
    the definitions)."""
    for flag in snapshot.flags:
        if flag.plain:
            conditions_of(flag)
            plan_for(flag, snapshot.cohort_table)
            if flag.plain_person:
                whole_of(flag, snapshot.cohort_table)
        single_of(flag, snapshot)
    all_flags_of(snapshot)
    return snapshot


def _compile(snapshot: FlagDefinitions) -> AllFlagsFn:
    chunks: list[AllFlagsFn] = []
    flags = snapshot.flags
    for start in range(0, len(flags), _CHUNK):
        names: dict[str, Any] = {
            "S": snapshot,
            "CO": snapshot.cohort_table,
            "U": Undecided,
            "INC": Inconclusive,
            "EV": evaluated,
            "GF": group_flag,
            "NP": newer_person,
            "UND": UNDECIDED,
            "RAISED": object(),  # 3.25.0's rules raised: the full path decides
            "NOP": NO_PERSON,
        }
        lines = ["def all_flags(did, groups, person, group, values, payloads, und):"]
        for index, flag in enumerate(flags[start : start + _CHUNK]):
            lines += _flag_block(str(index), flag, snapshot, names)
        lines.append("    return None")
        chunks.append(make_function(lines, names, f"all flags {start}-{start + _CHUNK - 1}"))
    if len(chunks) == 1:
        return chunks[0]

    def all_flags(*args: Any) -> None:
        for chunk in chunks:
            chunk(*args)

    return all_flags


def _flag_block(i: str, flag: FlagDefinition, snapshot: FlagDefinitions, names: dict[str, Any]) -> list[str]:
    """The lines that evaluate one flag and file its answer (at function indentation)."""
    names[f"K{i}"], names[f"F{i}"] = flag.key, flag
    if not flag.active:  # evaluate_flag: off, and never inconclusive (so never settled)
        return _constant(i, flag, False, names)
    if flag.undecidable:
        return _generic(i, flag, names)  # says why once, then returns at once (flag_paths.evaluated)
    if flag.ensure_experience_continuity:
        return [f"    und.append(K{i})"]
    if flag.plain_person:
        return _person(i, flag, snapshot, names)
    if flag.plain:
        group_name = snapshot.group_type_mapping.get(flag.group_type_key)  # type: ignore[arg-type]
        if group_name is not None:
            if flag.conditions_error is not None and not flag.newer_only_conditions:
                return _unreadable_group(i, flag, group_name, names)
            return _group(i, flag, group_name, snapshot, names)
    return _generic(i, flag, names)


def _store(i: str, flag: FlagDefinition, indent: str) -> list[str]:
    """File ``r``, a decided value (and its payload, when the flag has any)."""
    lines = [f"{indent}values[K{i}] = r"]
    if flag.payloads:
        lines += [
            f"{indent}pl = P{i}.get('true' if r is True else str(r))",
            f"{indent}if pl:",
            f"{indent}    payloads[K{i}] = pl",
        ]
    return lines


def _payloads(i: str, flag: FlagDefinition, names: dict[str, Any]) -> None:
    if flag.payloads:
        names[f"P{i}"] = flag.payloads


def _constant(i: str, flag: FlagDefinition, value: bool, names: dict[str, Any]) -> list[str]:
    names[f"V{i}"] = value
    lines = [f"    values[K{i}] = V{i}"]
    payload = lookup_payload(flag, value)
    if payload:
        names[f"Q{i}"] = payload
        lines.append(f"    payloads[K{i}] = Q{i}")
    return lines


def _generic(i: str, flag: FlagDefinition, names: dict[str, Any]) -> list[str]:
    """``flag_paths.evaluated``, as the loop calls it for a flag that is not plain."""
    _payloads(i, flag, names)
    return _generic_at(i, flag, "    ")


def _person(i: str, flag: FlagDefinition, snapshot: FlagDefinitions, names: dict[str, Any]) -> list[str]:
    """Both passes in one call that files the answer (:mod:`.whole_code`); when they could not be
    written as one, 3.25.0's compiled rules, then 7.x's pass (``NP``) if they leave it undecided."""
    _payloads(i, flag, names)
    whole = whole_of(flag, snapshot.cohort_table)
    if whole is not None:
        names[f"W{i}"] = whole
        return _filed(i, flag, f"W{i}(did, person, CO, values, payloads, und)", "    ")
    names[f"W{i}"] = conditions_of(flag)
    return [
        "    try:",
        f"        r = W{i}(did, person, CO)",
        "    except Exception:",
        "        r = RAISED",  # 3.25.0's rules raised: the full path
        "    if r is True or r is False or type(r) is str:",
        *_store(i, flag, "        "),
        "    elif type(r) is U:",
        f"        r = NP(F{i}, S, did, groups, person, group)",
        "        if r is None:",
        f"            und.append(K{i})",
        "        else:",
        *_store(i, flag, "            "),
        "    else:",
        *_generic_at(i, flag, "        "),
    ]


def _filed(i: str, flag: FlagDefinition, call: str, indent: str) -> list[str]:
    """``call``, a :func:`.whole_code.whole_of` function that files the answer itself; if it
    raises, the full path (which it never does: its passes catch their errors)."""
    return [
        f"{indent}try:",
        f"{indent}    {call}",
        f"{indent}except Exception:",
        *_generic_at(i, flag, indent + "    "),
    ]


def _generic_at(i: str, flag: FlagDefinition, indent: str) -> list[str]:
    return [
        f"{indent}r = EV(F{i}, S, did, groups, person, group)",
        f"{indent}if isinstance(r, INC):",
        f"{indent}    und.append(K{i})",
        f"{indent}else:",
        *_store(i, flag, indent + "    "),
    ]


def _unreadable_group(i: str, flag: FlagDefinition, group_name: str, names: dict[str, Any]) -> list[str]:
    """A group flag whose conditions neither pass can read: off without its group (decided
    before the conditions are read), undecided with it."""
    return _by_group(i, flag, group_name, names, [f"        und.append(K{i})"])


def _group(
    i: str, flag: FlagDefinition, group_name: str, snapshot: FlagDefinitions, names: dict[str, Any]
) -> list[str]:
    """A group flag of a known group type: off without its group, else both passes in one call
    (:mod:`.whole_code`, on the group's key and properties, without cohorts), or
    ``flag_paths.group_flag`` when they could not be written as one function."""
    _payloads(i, flag, names)
    whole = whole_of(flag, snapshot.cohort_table)
    if whole is not None:
        names[f"W{i}"] = whole
        given = [
            f"        o = group.get(N{i})",
            *_filed(i, flag, f"W{i}(groups[N{i}], {_GIVEN_GROUP}, None, values, payloads, und)", "        "),
        ]
    else:
        given = [
            f"        r = GF(F{i}, S, groups[N{i}], group.get(N{i}), did, groups, person, group)",
            "        if r is UND:",
            f"            und.append(K{i})",
            "        elif r is None:",
            *_generic_at(i, flag, "            "),
            "        else:",
            *_store(i, flag, "            "),
        ]
    return _by_group(i, flag, group_name, names, given)


def _by_group(
    i: str, flag: FlagDefinition, group_name: str, names: dict[str, Any], given: list[str]
) -> list[str]:
    """``given`` when the flag's group (bound as ``N<i>``) was passed; else off, as
    ``evaluate_flag`` decides before it reads the conditions."""
    names[f"N{i}"] = group_name
    off = lookup_payload(flag, False)
    if off:
        names[f"Q{i}"] = off
    return [
        f"    if N{i} in groups:",
        *given,
        "    else:",
        f"        values[K{i}] = False",
        *([f"        payloads[K{i}] = Q{i}"] if off else []),
    ]
