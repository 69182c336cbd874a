"""The same LangChain runs reported by our handler or by posthog 3.25.0's (parity test).

python langchain_scenario.py <fake LLM url> <fake PostHog url>
"""

from __future__ import annotations

import sys

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI

from posthog import Posthog
from posthog.ai.langchain import CallbackHandler


def _refuse(_: object) -> str:
    raise LookupError


def main(llm_url: str, posthog_url: str) -> None:
    ph = Posthog("phc_parity", host=posthog_url, flush_interval=0.05)
    model = ChatOpenAI(
        model="gpt-4o-mini", api_key="test", base_url=llm_url + "/v1", max_retries=0, temperature=0.1
    )
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief"), ("user", "Tell me about {topic}")])
    chain = prompt | model | StrOutputParser()
    handler = CallbackHandler(ph, distinct_id="user-1", properties={"team": "core"})
    chain.invoke({"topic": "cats"}, config={"callbacks": [handler]})
    model.invoke("Hi there", config={"callbacks": [CallbackHandler(ph)]})
    try:  # the provider answers 400: $ai_error on the generation and on the trace
        chain.invoke({"topic": "dogs"}, config={"callbacks": [handler]})
    except Exception:
        pass
    try:  # a step of the user's raises an exception with no message
        (prompt | RunnableLambda(_refuse)).invoke({"topic": "fish"}, config={"callbacks": [handler]})
    except LookupError:
        pass
    ph.flush()
    ph.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
