"""Masking of phone numbers and addresses for logs and console output.

Phone numbers are personal data and an attacker's map of who is on call; they are
logged only masked. Auth tokens are never logged at all.
"""

from __future__ import annotations

import re


def mask_phone(number: str) -> str:
    """``"+14155550199"`` → ``"+1******0199"``: first digit and last four kept.

    Anything shorter than six digits is masked completely; non-digit characters
    other than a leading ``+`` are dropped so formatting cannot leak digits.
    """
    plus = "+" if number.strip().startswith("+") else ""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) < 6:
        return plus + "*" * len(digits)
    return plus + digits[0] + "*" * (len(digits) - 5) + digits[-4:]


def mask_email(address: str) -> str:
    """``"alice@example.com"`` → ``"a***@example.com"``."""
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return (local[:1] or "") + "***@" + domain


def mask_opaque(address: str) -> str:
    """An address of no known shape (a webhook's name or URL): only its first character."""
    return address[:1] + "***"


def mask_address(address: str) -> str:
    """Mask a phone number or an e-mail address, whichever ``address`` is."""
    return mask_email(address) if "@" in address else mask_phone(address)


_NUMBER_RE = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def redact_numbers(text: str) -> str:
    """Mask every phone-number-like run in free text (e.g. a Twilio error message)."""
    return _NUMBER_RE.sub(lambda m: mask_phone(m.group(0)), text)
