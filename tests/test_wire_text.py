"""The JSON text made on the caller's thread: the capture fast path sends exactly what the general path would.

``capture`` with plain JSON properties encodes them by one C call beside a fragment encoded once
per process; everything else encodes the whole message. Both must put the same event on the wire,
and the message ``capture`` returns must be that event.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest

import posthog
from posthog._serialize import encode_message_text
from posthog.testing import RecordingClient


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 2 else 6)
    if kind == 0:
        return "".join(rng.choice(string.printable + 'é€😀"\\') for _ in range(rng.randrange(12)))
    if kind == 1:
        return rng.randrange(-(10**12), 10**12)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return None
    if kind == 5:
        return rng.choice(["", "pro", "a\nb", "\u2028"])
    if kind in (6, 7):
        return {f"k{i}": _random_value(rng, depth + 1) for i in range(rng.randrange(4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def _random_properties(rng: random.Random) -> dict[str, Any]:
    keys = ["plan", "$current_url", "price", "ünïcode key", 'quote"key', "utm", "$set", "n"]
    return {rng.choice(keys) + str(i): _random_value(rng) for i in range(rng.randrange(8))}


@pytest.mark.parametrize("seed", range(5))
def test_fast_path_text_equals_the_general_encoding_of_the_returned_message(seed: int) -> None:
    rng = random.Random(seed)
    client = RecordingClient("phc_wire")
    for i in range(200):
        props = _random_properties(rng)
        groups = {"company": f"c{i}"} if rng.random() < 0.3 else None
        geoip = rng.choice([None, True, False])
        event = rng.choice(["signup", 'say "hi"', "ünïcode", "$pageview"])
        distinct_id = rng.choice(["user-1", "é 1", 42])
        ok, msg = client.capture(distinct_id, event, props, groups=groups, disable_geoip=geoip)
        assert ok is True and isinstance(msg, dict)
        sent = client.events[-1]
        assert sent == json.loads(encode_message_text(msg))
        assert sent["properties"] == {**msg["properties"]}  # the returned message is what was sent


def test_keys_the_sdk_sets_are_merged_once_as_3x_merged_them() -> None:
    # Properties using a key the SDK sets leave the fast path: the SDK's $lib wins, the caller's
    # $os wins over the system context, and no key appears twice in the text sent.

    class TextKeeper(RecordingClient):
        texts: list[str] = []

        def _deliver(self, msg: dict[str, Any], text: str) -> bool:
            self.texts.append(text)
            return super()._deliver(msg, text)

    client = TextKeeper("phc_wire")
    client.capture("u", "e", {"$lib": "mine", "a": 1})
    client.capture("u", "e", {"$os": "MyOS"})
    first, second = client.events
    assert first["properties"]["$lib"] == "posthog-python" and first["properties"]["a"] == 1
    assert second["properties"]["$os"] == "MyOS"  # the caller's value wins over the system context
    for text in client.texts:
        top = json.loads(text, object_pairs_hook=lambda items: items)  # every object as its pairs
        keys = [key for key, _ in dict(top)["properties"]]
        assert len(keys) == len(set(keys)), text


def test_super_properties_and_values_needing_conversion_reach_the_wire() -> None:
    from decimal import Decimal

    client = RecordingClient("phc_wire", super_properties={"team": "core"})
    client.capture("u", "e", {"price": Decimal("9.5")})
    [event] = client.events
    assert event["properties"]["team"] == "core"
    assert event["properties"]["price"] == 9.5


def test_values_are_snapshotted_when_captured_even_on_the_fast_path(fake_server: Any) -> None:
    client = posthog.Client("phc_wire", host=fake_server.url, flush_interval=0.05)
    try:
        props: dict[str, Any] = {"nested": {"k": 1}, "items": [1]}
        client.capture("u", "e", props)
        props["nested"]["k"] = 2
        props["items"].append(2)
        assert client.flush(timeout=5) == 0
    finally:
        client.shutdown(timeout=2)
    [event] = fake_server.events()
    assert event["properties"]["nested"] == {"k": 1}
    assert event["properties"]["items"] == [1]
