"""Test data for the flag benchmarks: mixed local-evaluation definitions and evaluation contexts.

Built once in the parent process (with ``tests/support/builders.py``) and handed to both
measured interpreters as a JSON file, so the two libraries evaluate exactly the same input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from tests.support.builders import FlagBuilder, cohort, definitions, prop, property_group

__all__ = ["COHORT_ID", "GROUP_TYPE_MAPPING", "contexts", "flag_definitions"]

GROUP_TYPE_MAPPING: Final = {"0": "company", "1": "project"}
COHORT_ID: Final = 7

_Template = Callable[[FlagBuilder], FlagBuilder]

# One template per kind of definition met in practice; definition i uses template i % len.
_TEMPLATES: Final[tuple[_Template, ...]] = (
    lambda b: b.condition([], rollout=100),
    lambda b: b.condition([], rollout=50),
    lambda b: b.condition([prop("email", ["a@example.com", "b@example.com"])]),
    lambda b: b.condition([prop("email", "@example.com", "icontains")], rollout=80),
    lambda b: b.condition([prop("plan", ["pro", "team"])], rollout=100).variants(
        ("control", 34), ("test", 33), ("holdout", 33)
    ),
    lambda b: b.condition([prop("age", 30, "gt")]),
    lambda b: b.condition([prop("seats", 10, "lte"), prop("plan", "is_set", "is_set")], rollout=90),
    lambda b: b.condition([prop("country", "^(US|CA)$", "regex")]),
    lambda b: b.condition([prop("plan", "free", "is_not")], rollout=60),
    lambda b: b.group(0).condition([prop("industry", "saas", type="group", group_type_index=0)]),
    lambda b: b.condition([cohort(COHORT_ID)]),
    lambda b: b.condition([]).inactive(),
    lambda b: (
        b.condition([prop("country", ["US", "FR", "DE"])])
        .variants(("a", 50), ("b", 50))
        .payload("a", '{"color": "blue"}')
        .payload("b", '{"color": "red"}')
    ),
    lambda b: b.condition([prop("signup_date", "2024-01-01", "is_date_before")]),
    lambda b: b.condition([prop("email", "spam", "not_icontains")], rollout=70),
    lambda b: (
        b.condition([prop("plan", "enterprise")], rollout=100, variant="test")
        .condition([prop("age", 18, "gte")], rollout=40)
        .variants(("control", 50), ("test", 50))
    ),
    lambda b: b.continuity().condition([], rollout=100),
    lambda b: b.group(1).condition([], rollout=30),
    lambda b: b.condition([prop("score", 0.5, "lt"), prop("trial", ["true"])]),
    lambda b: b.condition([prop("name", "^bot", "not_regex")]).payload("true", '{"limit": 10}'),
)


def flag_definitions(count: int) -> dict[str, Any]:
    """The local_evaluation body with ``count`` mixed definitions (deterministic)."""
    flags = [
        _TEMPLATES[i % len(_TEMPLATES)](FlagBuilder(f"flag-{i}", flag_id=i + 1)).build() for i in range(count)
    ]
    cohorts = {
        str(COHORT_ID): property_group(
            "OR",
            property_group("AND", prop("country", ["US", "CA"]), prop("age", 21, "gte")),
            property_group("AND", prop("plan", "enterprise")),
        )
    }
    return definitions(flags, GROUP_TYPE_MAPPING, cohorts)


_PLANS: Final = ("free", "pro", "team", "enterprise")
_COUNTRIES: Final = ("US", "CA", "FR", "DE", "JP")


def contexts(count: int) -> list[dict[str, Any]]:
    """``count`` evaluation contexts; some lack properties so a few flags are inconclusive."""
    result: list[dict[str, Any]] = []
    for i in range(count):
        person: dict[str, Any] = {
            "email": f"user{i}@{'example.com' if i % 3 else 'corp.io'}",
            "plan": _PLANS[i % len(_PLANS)],
            "age": 15 + (i * 7) % 50,
            "seats": i % 25,
            "country": _COUNTRIES[i % len(_COUNTRIES)],
            "signup_date": f"202{i % 5}-0{1 + i % 9}-15",
            "score": (i % 10) / 10,
            "trial": "true" if i % 2 else "false",
            "name": "bot-x" if i % 11 == 0 else f"Person {i}",
        }
        if i % 7 == 3:  # a missing property makes the flags that use it inconclusive locally
            del person["age"]
        groups = {"company": f"company-{i % 5}", "project": f"project-{i % 3}"} if i % 4 else {}
        group_properties = {"company": {"industry": "saas" if i % 2 else "retail"}} if groups else {}
        result.append(
            {
                "distinct_id": f"distinct-{i}",
                "person_properties": person,
                "groups": groups,
                "group_properties": group_properties,
            }
        )
    return result
