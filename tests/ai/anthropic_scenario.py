"""The same posthog.ai.anthropic calls, run by our package or by posthog 3.25.0 (parity test).

    python anthropic_scenario.py <fake LLM url> <fake PostHog url>

Only calls 3.25.0 survives (anthropic 0.49): no tool_use answer, no ``messages.stream()``.
"""

from __future__ import annotations

import sys

from posthog import Posthog
from posthog.ai.anthropic import Anthropic

MESSAGES = [{"role": "user", "content": "Hi"}]


def main(llm_url: str, posthog_url: str) -> None:
    ph = Posthog("phc_parity", host=posthog_url, flush_interval=0.05)
    client = Anthropic(posthog_client=ph, api_key="test", base_url=llm_url, max_retries=0)
    client.messages.create(
        model="claude-3-5",
        max_tokens=50,
        messages=MESSAGES,
        system="Be kind",
        posthog_distinct_id="user-1",
        posthog_properties={"team": "core"},
    )
    client.messages.create(model="claude-3-5", max_tokens=50, messages=MESSAGES, posthog_trace_id="trace-2")
    for _ in client.messages.create(
        model="claude-3-5",
        max_tokens=50,
        messages=MESSAGES,
        system="Be kind",
        stream=True,
        posthog_distinct_id="u",
    ):
        pass
    try:
        client.messages.create(model="claude-3-5", max_tokens=50, messages=MESSAGES, posthog_distinct_id="u")
    except Exception:
        pass
    ph.flush()
    ph.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
