"""Test data for the flag benchmarks: mixed local-evaluation definitions and evaluation contexts.

Built once in the parent process (with ``tests/support/builders.py``) and handed to both
measured interpreters as a JSON file, so the two libraries evaluate exactly the same input.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from tests.support.builders import FlagBuilder, cohort, definitions, prop, property_group

__all__ = [
    "COHORT_ID",
    "GROUP_TYPE_MAPPING",
    "HARD_FLAG_COUNT",
    "contexts",
    "flag_definitions",
    "hard_contexts",
    "hard_flag_definitions",
]

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


# --- the hard mix -----------------------------------------------------------------------------------
#
# What real projects hold: regex and not_regex, (not_)icontains on person and group properties,
# gt/gte/lt/lte against string values (compared as text by 3.x), is_set / is_not_set / is_not,
# relative dates, cohorts nested in cohorts, group flags on two group types, multivariate flags
# with payloads and rollouts below 100 %. Every context carries its own distinct_id, 11 person
# properties and both groups, varied so that each condition both matches and misses.

HARD_FLAG_COUNT: Final = 50


def _company(key: str, value: Any, operator: str = "exact") -> dict[str, Any]:
    return prop(key, value, operator, type="group", group_type_index=0)


def _project(key: str, value: Any, operator: str = "exact") -> dict[str, Any]:
    return prop(key, value, operator, type="group", group_type_index=1)


def _and(*values: Any) -> dict[str, Any]:
    return property_group("AND", *values)


def _or(*values: Any) -> dict[str, Any]:
    return property_group("OR", *values)


_HARD_COHORTS: Final = {
    "101": _or(  # adults in North America, or enterprise customers
        _and(prop("country", ["US", "CA"]), prop("age", 21, "gte")), _and(prop("plan", "enterprise"))
    ),
    "102": _or(_or(prop("email", "@posthog.com", "icontains"), prop("email", r"^admin", "regex"))),
    "103": _and(_and(prop("seats", "50", "gt"), prop("last_seen", "-30d", "is_date_after"))),
    "104": _or(_or(cohort(102), cohort(103))),
    "105": _and(
        _and(prop("country", ["FR", "DE", "GB"]), prop("plan", "free", "is_not")),
        _or(prop("browser", "chrome|firefox", "regex"), prop("app_version", r"^2\.", "regex")),
    ),
    "106": _and(
        _and(prop("signup_date", "-1y", "is_date_after"), prop("browser", "mobile", "not_icontains"))
    ),
    "107": _and(_and(cohort(106), prop("country", "JP", negation=True))),
    "108": _or(_and(cohort(104), prop("plan", ["pro", "team"])), _and(cohort(105))),
    "109": _or(
        _and(prop("plan", "enterprise"), prop("country", "BR")),
        _and(cohort(101), prop("utm_source", "is_set", "is_set")),
    ),
    "110": _and(
        _or(cohort(102), cohort(105), prop("ltv", "500", "gte")),
        _or(prop("age", 40, "gt", negation=True), prop("beta_opt_in", ["true"])),
    ),
    "111": _or(
        _and(prop("browser", "firefox", "icontains"), prop("signup_date", "-3y", "is_date_after")),
        _and(cohort(109)),
    ),
    "112": _and(_and(prop("ltv", "100", "gte")), _or(cohort(110), cohort(104))),
}

_HARD_TEMPLATES: Final[tuple[_Template, ...]] = (
    # person properties: regex, not_regex, (not_)icontains, exact on lists
    lambda b: b.condition([prop("email", r"@(example|posthog)\.com$", "regex")]),
    lambda b: b.condition([prop("app_version", r"-(beta|rc)", "not_regex")], rollout=75),
    lambda b: b.condition([prop("browser", "safari", "icontains")]),
    lambda b: b.condition(
        [prop("email", "gmail", "not_icontains"), prop("country", ["US", "CA", "GB"])], rollout=60
    ),
    lambda b: b.condition([prop("distinct_id", r"[05]$", "regex")]).payload("true", '{"cohort": "tail"}'),
    lambda b: b.condition([prop("browser", ["chrome", "FIREFOX"])], rollout=45),
    # numbers: strings compare as text in 3.x ("9" > "50"), numbers as numbers
    lambda b: b.condition([prop("seats", "50", "gt")]),
    lambda b: b.condition([prop("seats", 25, "lte")], rollout=80),
    lambda b: b.condition([prop("ltv", "99.5", "gte")]),
    lambda b: b.condition([prop("age", "30", "lt")]),
    lambda b: (
        b.condition([prop("ltv", 0, "gt"), prop("age", 65, "lt")], rollout=35)
        .variants(("low", 50), ("high", 50))
        .payload("low", '{"tier": 1}')
        .payload("high", '{"tier": 2}')
    ),
    # is_set, is_not_set (undecidable locally in 3.x, reached rarely here), is_not
    lambda b: b.condition([prop("utm_source", "is_set", "is_set")], rollout=50),
    lambda b: b.condition([prop("country", "BR"), prop("utm_source", "is_not_set", "is_not_set")]),
    lambda b: b.condition([prop("plan", "free", "is_not")], rollout=80),
    lambda b: b.condition([prop("country", ["US", "CA"], "is_not")]),
    # dates, relative and absolute
    lambda b: b.condition([prop("last_seen", "-30d", "is_date_after")]),
    lambda b: b.condition([prop("signup_date", "-1y", "is_date_before")], rollout=90),
    lambda b: (
        b.condition([prop("last_seen", "-6m", "is_date_after"), prop("plan", ["pro", "team", "enterprise"])])
        .variants(("control", 50), ("test", 50))
        .payload("control", '{"layout": "classic"}')
        .payload("test", '{"layout": "compact"}')
    ),
    lambda b: b.condition(
        [prop("signup_date", "2020-01-01", "is_date_after"), prop("signup_date", "-2w", "is_date_before")]
    ),
    lambda b: b.condition([prop("last_seen", "-1y", "is_date_before"), cohort(101)], rollout=65),
    # cohorts, some nested
    lambda b: b.condition([cohort(101)]),
    lambda b: b.condition([cohort(102)], rollout=50),
    lambda b: b.condition([cohort(104)]),
    lambda b: b.condition([cohort(105)]),
    lambda b: b.condition([cohort(107)]).payload("true", '{"banner": "welcome"}'),
    lambda b: (
        b.condition([cohort(108)])
        .variants(("a", 34), ("b", 33), ("c", 33))
        .payload("a", '{"price": 10}')
        .payload("b", '{"price": 12}')
        .payload("c", '{"price": 15}')
    ),
    lambda b: b.condition([cohort(103), prop("browser", "Chrome")]),
    lambda b: b.condition([cohort(106)], rollout=30).condition([prop("country", "DE")]),
    lambda b: b.condition([cohort(109)]),
    lambda b: b.condition([cohort(110)], rollout=70),
    lambda b: (
        b.condition([prop("email", r"\.io$", "regex")])
        .condition([cohort(103)], rollout=40)
        .condition([], rollout=10)
    ),
    lambda b: b.condition([cohort(111)]),
    lambda b: b.condition([cohort(112)]).payload("true", '{"discount": 0.2}'),
    lambda b: b.condition([prop("plan", ["pro", "team"]), cohort(105)]),
    # group flags: company (index 0) and project (index 1)
    lambda b: b.group(0).condition([_company("name", "corp", "icontains")]),
    lambda b: b.group(0).condition(
        [_company("name", "inc", "not_icontains"), _company("industry", ["saas", "fintech"])], rollout=70
    ),
    lambda b: b.group(0).condition([_company("employees", "3000", "gte")]),
    lambda b: (
        b.group(0)
        .condition([_company("industry", "^(saas|health)$", "regex")])
        .variants(("a", 40), ("b", 40), ("c", 20))
        .payload("a", '{"plan": "A"}')
        .payload("b", '{"plan": "B"}')
    ),
    lambda b: (
        b.group(0)
        .condition([_company("plan", ["enterprise"])], rollout=40)
        .variants(("control", 50), ("test", 50))
        .payload("test", '{"seats": 100}')
    ),
    lambda b: b.group(0).condition([_company("created_at", "-5y", "is_date_after")]),
    lambda b: b.group(1).condition([_project("region", "eu", "icontains")]),
    lambda b: b.group(1).condition([_project("events_per_day", "5000", "gt")], rollout=50),
    lambda b: b.group(1).condition([_project("name", "^internal", "not_regex")]).payload("true", '"on"'),
    lambda b: b.group(1).condition(
        [_project("name", "app", "icontains"), _project("region", "^us-", "regex")]
    ),
    # multivariate flags with overrides and payloads; one inactive flag
    lambda b: (
        b.condition([prop("plan", "enterprise")], variant="test")
        .condition([], rollout=50)
        .variants(("control", 40), ("test", 40), ("holdout", 20))
        .payload("control", '{"steps": 3}')
        .payload("test", '{"steps": 2}')
        .payload("holdout", '{"steps": 3, "holdout": true}')
    ),
    lambda b: (
        b.condition([prop("country", ["US", "GB", "DE", "FR"])])
        .variants(("red", 25), ("green", 25), ("blue", 25), ("gold", 25))
        .payload("gold", '{"color": "#d4af37"}')
    ),
    lambda b: b.condition([]).variants(("x", 30), ("y", 30)).payload("x", '{"x": 1}'),
    lambda b: b.condition([prop("beta_opt_in", ["true"])]).payload("true", '{"beta": true}'),
    lambda b: b.condition([prop("plan", "free"), prop("age", 18, "gte")]).condition(
        [prop("browser", "edge", "icontains")], rollout=20
    ),
    lambda b: b.condition([]).inactive(),
)


def hard_flag_definitions() -> dict[str, Any]:
    """The local_evaluation body of the hard mix: 50 definitions and 12 cohorts (deterministic)."""
    assert len(_HARD_TEMPLATES) == HARD_FLAG_COUNT
    flags = [
        template(FlagBuilder(f"hard-{i}", flag_id=1000 + i)).build()
        for i, template in enumerate(_HARD_TEMPLATES)
    ]
    return definitions(flags, GROUP_TYPE_MAPPING, _HARD_COHORTS)


_DOMAINS: Final = ("example.com", "posthog.com", "corp.io", "gmail.com", "PostHog.com", "example.org")
_BROWSERS: Final = ("Chrome", "Firefox", "Safari", "Mobile Safari", "Edge", "chrome")
_VERSIONS: Final = ("1.2.3", "2.0.0-beta", "2.4.1", "10.4.1", "3.0.0-rc1", "2.11.0")
_HARD_COUNTRIES: Final = ("US", "CA", "FR", "DE", "JP", "BR", "GB")
_HARD_PLANS: Final = ("free", "pro", "team", "enterprise", "free", None)
_SOURCES: Final = ("google", "newsletter", "twitter", None)
_COMPANIES: Final = ("Acme Corp", "Globex Inc", "Initech", "Umbrella Corp", "Hooli", "Stark Industries")
_INDUSTRIES: Final = ("saas", "retail", "fintech", "health", "SaaS")
_PROJECTS: Final = ("web-app", "Mobile App", "internal-tools", "app-backend", "docs")
_REGIONS: Final = ("us-east", "eu-west", "EU-central", "us-west", "ap-south")


def _moment(i: int, first_year: int, years: int) -> datetime:
    """A moment spread over ``years`` years from ``first_year``, distinct for each ``i`` as real
    signup and activity timestamps are; relative filters ("-30d", "-1y") split them for decades."""
    return datetime(first_year, 1, 1) + timedelta(seconds=(i * 7919 * 104729) % (years * 365 * 86400))


def hard_contexts(count: int, first: int = 0) -> list[dict[str, Any]]:
    """Contexts ``first`` to ``first + count - 1`` (their own distinct id, 11 person properties,
    two groups with properties); contexts of different indexes never share a distinct id."""
    result: list[dict[str, Any]] = []
    for i in range(first, first + count):
        person: dict[str, Any] = {
            "email": f"{'admin' if i % 19 == 0 else 'user'}{i}@{_DOMAINS[i % len(_DOMAINS)]}",
            "plan": _HARD_PLANS[(i * 7) % len(_HARD_PLANS)],
            "country": _HARD_COUNTRIES[i % len(_HARD_COUNTRIES)],
            "age": 16 + (i * 13) % 60,
            "seats": str(1 + (i * 37) % 120),  # numbers sent as text, as forms and CSV imports do
            "ltv": f"{(i * 53) % 900}.5" if i % 3 else (i * 29) % 700 / 2,
            "signup_date": _moment(i, 2012, 28).date().isoformat(),
            "last_seen": _moment(i * 3 + 1, 2014, 26).isoformat() + "Z",
            "browser": _BROWSERS[(i * 5) % len(_BROWSERS)],
            "app_version": _VERSIONS[(i * 3) % len(_VERSIONS)],
            "beta_opt_in": ("true", "false", True, False)[i % 4],
            "utm_source": _SOURCES[(i * 3) % len(_SOURCES)],
        }
        if i % 13 == 6:  # a missing property leaves the flags that reach it undecided locally
            del person["age"]
        if i % 17 == 9:
            del person["utm_source"]
        company, project = f"company-{(i * 7) % 23}", f"project-{(i * 11) % 37}"
        result.append(
            {
                "distinct_id": f"u-{(i * 7919) % 100003:05d}-{i}",
                "person_properties": person,
                "groups": {"company": company, "project": project},
                "group_properties": {
                    "company": {
                        "name": _COMPANIES[i % len(_COMPANIES)],
                        "industry": _INDUSTRIES[(i * 3) % len(_INDUSTRIES)],
                        "employees": str(5 + (i * 97) % 5000),
                        "plan": ("enterprise", "startup", "growth")[i % 3],
                        "created_at": _moment(i * 7 + 2, 2010, 30).date().isoformat(),
                    },
                    "project": {
                        "name": _PROJECTS[i % len(_PROJECTS)],
                        "region": _REGIONS[(i * 2) % len(_REGIONS)],
                        "events_per_day": str((i * 1237) % 40000),
                    },
                },
            }
        )
    return result
