"""Feature flags: local evaluation with a personal API key, remote fallback, payloads.

    python examples/feature_flags.py

Starts a PostHog-compatible server on 127.0.0.1 serving three flag definitions (or uses
POSTHOG_HOST, POSTHOG_API_KEY and POSTHOG_PERSONAL_API_KEY for a real project), then evaluates
them the way an application would and says which answers needed a request to the server.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

# Run from a checkout without installing: make `posthog` importable.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from posthog import Posthog  # noqa: E402

DEFINITIONS: dict[str, Any] = {
    "flags": [
        {  # on for pro users in the EU; person properties decide it locally
            "key": "new-dashboard",
            "active": True,
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {"key": "plan", "value": "pro", "operator": "exact", "type": "person"},
                            {"key": "region", "value": ["eu"], "operator": "exact", "type": "person"},
                        ],
                        "rollout_percentage": 100,
                    }
                ]
            },
        },
        {  # an experiment with a payload per variant
            "key": "pricing-page",
            "active": True,
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100}],
                "multivariate": {
                    "variants": [
                        {"key": "control", "rollout_percentage": 50},
                        {"key": "annual-first", "rollout_percentage": 50},
                    ]
                },
                "payloads": {
                    "control": json.dumps({"headline": "Simple pricing"}),
                    "annual-first": json.dumps({"headline": "Save 20% yearly"}),
                },
            },
        },
        {  # experience continuity cannot be decided locally: the server answers
            "key": "onboarding-v2",
            "active": True,
            "ensure_experience_continuity": True,
            "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]},
        },
    ],
    "group_type_mapping": {},
    "cohorts": {},
}


def main() -> None:
    server = None
    host = os.environ.get("POSTHOG_HOST")
    personal_key = os.environ.get("POSTHOG_PERSONAL_API_KEY", "phx_example_personal_key")
    if not host:
        from posthog.testing import FakePostHog

        server = FakePostHog().start()
        server.personal_api_key = personal_key
        server.set_flag_definitions(DEFINITIONS)
        server.set_remote_flags({"onboarding-v2": True})
        host = server.url

    client = Posthog(
        os.environ.get("POSTHOG_API_KEY", "phc_example_project_key"),
        host=host,
        personal_api_key=personal_key,
    )
    client.wait_for_flags(timeout=5)  # definitions load in the background; wait once at start-up

    def flag_requests() -> int:
        return 0 if server is None else len(server.requests_to("/flags"))

    def show(label: str, value: Any, before: int) -> None:
        # Only the local fake server can tell whether a flag request was made.
        if server is None:
            where = ""
        else:
            where = "(asked the server)" if flag_requests() > before else "(decided locally)"
        print(f"  {label:<54} -> {value!r:<34} {where}".rstrip())

    users = {"ada": {"plan": "pro", "region": "eu"}, "bob": {"plan": "free", "region": "us"}}
    for user, properties in users.items():
        before = flag_requests()
        show(
            f"new-dashboard for {user} {properties}",
            client.feature_enabled("new-dashboard", user, person_properties=properties),
            before,
        )
    before = flag_requests()
    show("pricing-page variant for ada", client.get_feature_flag("pricing-page", "ada"), before)
    before = flag_requests()
    show("pricing-page payload for ada", client.get_feature_flag_payload("pricing-page", "ada"), before)
    before = flag_requests()
    show("onboarding-v2 for ada", client.get_feature_flag("onboarding-v2", "ada"), before)
    before = flag_requests()
    show(
        "get_all_flags for ada",
        client.get_all_flags("ada", person_properties=users["ada"]),
        before,
    )
    client.shutdown()
    if server is not None:
        called = [e for e in server.events() if e["event"] == "$feature_flag_called"]
        print(f"$feature_flag_called events sent: {len(called)} (one per user, flag and value)")
        server.close()


if __name__ == "__main__":
    main()
