"""Incoming payment-provider webhooks."""

from __future__ import annotations

import hashlib
import hmac
import os

SECRET = os.environ.get("SHOP_WEBHOOK_SECRET", "dev-secret").encode()


def verify_signature(body: bytes, signature: str) -> bool:
    """Return True only when `signature` is the provider's HMAC-SHA256 of `body`."""
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
