"""A typical user script of posthog.ai.openai; must pass ``mypy --strict``."""

from __future__ import annotations

from posthog import Posthog
from posthog.ai.openai import AsyncOpenAI, OpenAI

posthog_client = Posthog("phc_key", host="http://127.0.0.1:9")
client = OpenAI(posthog_client=posthog_client, api_key="sk-test", base_url="http://127.0.0.1:9/v1")


def ask(question: str) -> str:
    response = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": question}],
        posthog_distinct_id="user-1",
        posthog_properties={"feature": "help"},
    )
    text: str = response.choices[0].message.content or ""
    return text


async def ask_async(question: str) -> str:
    aclient = AsyncOpenAI(posthog_client=posthog_client, api_key="sk-test")
    response = await aclient.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}], posthog_privacy_mode=True
    )
    text: str = response.choices[0].message.content or ""
    return text


def ask_claude(question: str) -> str:
    from posthog.ai.anthropic import Anthropic

    claude = Anthropic(posthog_client=posthog_client, api_key="sk-test")
    message = claude.messages.create(
        model="claude-x",
        max_tokens=100,
        messages=[{"role": "user", "content": question}],
        posthog_distinct_id="u",
    )
    return str(message.content[0])


def langchain_handler() -> object:
    from posthog.ai.langchain import CallbackHandler

    return CallbackHandler(posthog_client, distinct_id="user-1", properties={"conversation": "c-1"})
