"""Webhook authentication schemes: signing (for fakes, write-back and send-ticket) and verification.

Which source uses which scheme is its kind's record (:mod:`oncall.sources.registry`); a
new helpdesk reuses one of these or brings its own.

=========  =====================================================================================
source     scheme
=========  =====================================================================================
generic    ``X-Oncall-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``
zendesk    ``X-Zendesk-Webhook-Signature: base64(HMAC-SHA256(secret, timestamp + raw body))``
           with ``X-Zendesk-Webhook-Signature-Timestamp``; more than 5 minutes off either way
           is refused (replay protection)
freshdesk  ``X-Oncall-Secret: <secret>`` — Freshdesk cannot sign, so the automation rule sends
           the shared secret as a custom header (use HTTPS)
jira       ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``
=========  =====================================================================================

Every comparison is constant-time. Failures raise :class:`SignatureError` with a reason fit
for a log line (never the expected value).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

from oncall.errors import SignatureError

GENERIC_HEADER = "X-Oncall-Signature"
ZENDESK_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
FRESHDESK_HEADER = "X-Oncall-Secret"
JIRA_HEADER = "X-Hub-Signature"
ZENDESK_TOLERANCE = timedelta(minutes=5)


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _hmac(secret: str | bytes, message: bytes) -> bytes:
    return hmac.new(_key(secret), message, hashlib.sha256).digest()


def sign_generic(secret: str | bytes, body: bytes) -> str:
    """The ``X-Oncall-Signature`` value for ``body``."""
    return "sha256=" + _hmac(secret, body).hex()


def sign_jira(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature`` value Jira sends for ``body``."""
    return "sha256=" + _hmac(secret, body).hex()


def sign_zendesk(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Zendesk-Webhook-Signature`` value for ``body`` sent at ``timestamp``."""
    return base64.b64encode(_hmac(secret, timestamp.encode("utf-8") + body)).decode("ascii")


def _hex_digest(header: str | None, name: str) -> bytes:
    if not header:
        raise SignatureError(f"missing {name} header")
    scheme, _, value = header.strip().partition("=")
    if scheme.lower() != "sha256" or not value:
        raise SignatureError(f"{name} must look like 'sha256=<hex>'")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise SignatureError(f"{name} is not hexadecimal") from None


def verify_generic(secret: str | bytes, body: bytes, header: str | None,
                   *, name: str = GENERIC_HEADER) -> None:
    """Check ``sha256=<hex>`` over the raw body. Raises :class:`SignatureError`."""
    given = _hex_digest(header, name)
    if not hmac.compare_digest(given, _hmac(secret, body)):
        raise SignatureError(f"{name} does not match the body")


def verify_jira(secret: str | bytes, body: bytes, header: str | None) -> None:
    verify_generic(secret, body, header, name=JIRA_HEADER)


def _zendesk_time(timestamp: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        raise SignatureError(f"{ZENDESK_TIMESTAMP_HEADER} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise SignatureError(f"{ZENDESK_TIMESTAMP_HEADER} has no time zone")
    return parsed


def verify_zendesk(secret: str | bytes, body: bytes, signature: str | None,
                   timestamp: str | None, *, now: datetime,
                   tolerance: timedelta = ZENDESK_TOLERANCE) -> None:
    """Check Zendesk's signature and refuse timestamps more than ``tolerance`` from ``now``."""
    if not signature:
        raise SignatureError(f"missing {ZENDESK_HEADER} header")
    if not timestamp:
        raise SignatureError(f"missing {ZENDESK_TIMESTAMP_HEADER} header")
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{ZENDESK_HEADER} is not base64") from None
    if not hmac.compare_digest(given, _hmac(secret, timestamp.encode("utf-8") + body)):
        raise SignatureError(f"{ZENDESK_HEADER} does not match the body")
    # checked after the MAC so a forger learns nothing from the timing of the skew check
    skew = abs(now - _zendesk_time(timestamp))
    if skew > tolerance:
        raise SignatureError(
            f"{ZENDESK_TIMESTAMP_HEADER} is {int(skew.total_seconds())}s away from now "
            f"(limit {int(tolerance.total_seconds())}s): stale or replayed"
        )


def verify_shared_secret(secret: str | bytes, header: str | None,
                         *, name: str = FRESHDESK_HEADER) -> None:
    if not header:
        raise SignatureError(f"missing {name} header")
    if not hmac.compare_digest(_key(header.strip()), _key(secret)):
        raise SignatureError(f"{name} is wrong")
