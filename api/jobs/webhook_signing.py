"""Standard Webhooks signatures: receivers verify callbacks with any library of the spec.

``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, the key being
the base64 part of a ``whsec_...`` secret (https://www.standardwebhooks.com/).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; ValueError naming what is wrong."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"the callback secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the callback secret after {SECRET_PREFIX!r} is not base64") from None
    if len(key) < 16:
        raise ValueError("the callback secret holds fewer than 16 bytes of key")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of the message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(key: bytes | None, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers; the signature only when a key is configured."""
    out = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if key is not None:
        out["webhook-signature"] = signature(key, msg_id, timestamp, body)
    return out
