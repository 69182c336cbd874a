"""A small "application" that talks to PostHog through the module API, as real code does.

tests/test_testing.py tests it with ``posthog.testing``: nothing here knows about tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import posthog


def checkout(user_id: str, cart: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Place an order: flags pick the flow and the discount, events record what happened."""
    if not cart:
        posthog.capture(user_id, "checkout abandoned", {"reason": "empty cart"})
        return {"status": "empty"}
    flow = "one-page" if posthog.feature_enabled("new-checkout", user_id) else "classic"
    discount = 0
    if posthog.get_feature_flag("pricing-test", user_id) == "discount":
        payload = posthog.get_feature_flag_payload("pricing-test", user_id)
        discount = int(json.loads(payload)["percent"]) if payload else 0
    subtotal = sum(Decimal(str(item["price"])) * int(item.get("quantity", 1)) for item in cart)
    total = subtotal * (100 - discount) / 100
    posthog.capture(user_id, "checkout started", {"flow": flow, "items": len(cart)})
    posthog.capture(
        user_id,
        "order completed",
        {
            "total": total,
            "currency": "EUR",
            "flow": flow,
            "discount_percent": discount,
            "skus": {item["sku"] for item in cart},
        },
        groups={"company": "acme"},
    )
    return {"status": "ok", "total": total, "flow": flow}


def sign_up(anonymous_id: str, user_id: str, email: str) -> None:
    """Link the anonymous visitor to the new account and describe the person."""
    posthog.alias(anonymous_id, user_id)
    posthog.identify(user_id, {"email": email, "plan": "free"})
