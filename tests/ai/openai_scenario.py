"""The same posthog.ai.openai calls, run by our package or by posthog 3.25.0 (parity test).

    python openai_scenario.py <fake LLM url> <fake PostHog url>

Uses only what 3.25.0 supports (openai 1.x). Prints nothing; the events go to the fake PostHog.
"""

from __future__ import annotations

import sys

from posthog import Posthog
from posthog.ai.openai import OpenAI

MESSAGES = [{"role": "system", "content": "Be kind"}, {"role": "user", "content": "Hi"}]
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]


def main(llm_url: str, posthog_url: str) -> None:
    ph = Posthog("phc_parity", host=posthog_url, flush_interval=0.05)
    client = OpenAI(posthog_client=ph, api_key="test", base_url=llm_url + "/v1", max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.5,
        max_tokens=20,
        posthog_distinct_id="user-1",
        posthog_properties={"team": "core"},
        posthog_groups={"company": "acme"},
    )
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, posthog_trace_id="trace-2")
    for _ in client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, posthog_distinct_id="user-1"
    ):
        pass
    client.embeddings.create(model="text-embedding-3-small", input="hello", posthog_distinct_id="user-1")
    client.responses.create(
        model="gpt-4.1", input="Do it", instructions="Be brief", posthog_distinct_id="user-1"
    )
    client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, posthog_distinct_id="user-1"
    )
    client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, posthog_distinct_id="user-1", posthog_privacy_mode=True
    )
    for _ in client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, tools=TOOLS, posthog_distinct_id="user-1"
    ):
        pass
    for _ in client.responses.create(model="gpt-4.1", input="Hi", stream=True, posthog_distinct_id="user-1"):
        pass
    client.responses.create(model="gpt-4.1", input="Plain", posthog_distinct_id="user-1")
    for _ in client.responses.create(
        model="gpt-4.1", input="Hi", instructions="Be brief", stream=True, posthog_distinct_id="user-1"
    ):
        pass
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, posthog_distinct_id="user-1")
    except Exception:
        pass
    ph.flush()
    ph.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
