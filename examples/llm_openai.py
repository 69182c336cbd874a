"""LLM observability: an OpenAI client whose calls become PostHog ``$ai_generation`` events.

python examples/llm_openai.py
    starts a fake OpenAI-compatible provider and a fake PostHog on 127.0.0.1 and prints the events;
OPENAI_API_KEY=sk-... POSTHOG_HOST=https://us.i.posthog.com POSTHOG_API_KEY=phc_... \
    python examples/llm_openai.py
    makes the same calls for real.
"""

from __future__ import annotations

import json
import os
import sys

# Run from a checkout: make `posthog` and the test suite's fake LLM provider (`tests.fake_llm`) importable.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from posthog import Posthog  # noqa: E402
from posthog.ai.openai import OpenAI  # noqa: E402


def main() -> int:
    fakes = []
    host, base_url = os.environ.get("POSTHOG_HOST"), None
    if not host or not os.environ.get("OPENAI_API_KEY"):
        from posthog.testing import FakePostHog
        from tests.fake_llm import FakeLLM

        posthog_server, llm = FakePostHog().start(), FakeLLM().start()
        fakes = [posthog_server, llm]
        host, base_url = posthog_server.url, llm.url + "/v1"

    posthog_client = Posthog(os.environ.get("POSTHOG_API_KEY", "phc_llm_example"), host=host)
    client = OpenAI(
        posthog_client=posthog_client, api_key=os.environ.get("OPENAI_API_KEY", "test"), base_url=base_url
    )
    messages = [{"role": "system", "content": "You are brief."}, {"role": "user", "content": "Say hello"}]

    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, posthog_distinct_id="user-1", posthog_trace_id="chat-42"
    )
    print("answer:", answer.choices[0].message.content)

    with client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True) as stream:
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    print("streamed:", streamed)

    client.embeddings.create(model="text-embedding-3-small", input="hello", posthog_distinct_id="user-1")
    posthog_client.shutdown()

    if fakes:
        posthog_server = fakes[0]
        for event in posthog_server.events():
            props = event["properties"]
            shown = {
                k: props[k] for k in ("$ai_model", "$ai_input_tokens", "$ai_output_tokens") if k in props
            }
            print(f"{event['event']:<15} {event['distinct_id']:<38} {json.dumps(shown)}")
        for fake in fakes:
            fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
