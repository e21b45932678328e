"""Settings for the delivery channels: Twilio (SMS, voice) and SMTP (e-mail).

The lead's global settings nest these as ``twilio`` and ``smtp``, so they are set by
``ONCALL_TWILIO__ACCOUNT_SID``… or ``[twilio]`` in ``oncall.toml``.
"""

from __future__ import annotations

import re

from pydantic import SecretStr, field_validator

from oncall.fields import Model

TWILIO_API_BASE_URL = "https://api.twilio.com"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class TwilioSettings(Model):
    """Twilio credentials and sender. Incomplete settings mean: console transport."""

    account_sid: str | None = None
    auth_token: SecretStr | None = None
    from_number: str | None = None
    messaging_service_sid: str | None = None
    api_base_url: str | None = TWILIO_API_BASE_URL

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("AC"):
            # An API key (SK…) or a messaging service (MG…) pasted here is a common slip.
            raise ValueError("account_sid must start with 'AC' (the Account SID, not an API key)")
        return value

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        if value is not None and not _E164.fullmatch(value):
            raise ValueError(f"from_number must be E.164, e.g. +14155550100 (got {value!r})")
        return value

    @field_validator("messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("MG"):
            raise ValueError("messaging_service_sid must start with 'MG'")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/]+", value):
            raise ValueError(f"api_base_url must be an http(s) URL (got {value!r})")
        return value

    @property
    def configured(self) -> bool:
        """Credentials and a sender (number or messaging service) are all present."""
        return bool(self.account_sid and self.auth_token and self.auth_token.get_secret_value()
                    and (self.from_number or self.messaging_service_sid))

    @property
    def base_url(self) -> str:
        return (self.api_base_url or TWILIO_API_BASE_URL).rstrip("/")


class SmtpSettings(Model):
    """An SMTP relay for e-mail pages (the second channel when Twilio is down)."""

    host: str | None = None
    port: int = 587
    username: str | None = None
    password: SecretStr | None = None
    from_address: str | None = None
    starttls: bool = True
    timeout_seconds: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.host and self.from_address)
