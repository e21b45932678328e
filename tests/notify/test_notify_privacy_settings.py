"""Masking of numbers and addresses; Twilio and SMTP settings validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from oncall.notify.privacy import mask_address, mask_email, mask_phone, redact_numbers
from oncall.notify.settings import TWILIO_API_BASE_URL, SmtpSettings, TwilioSettings

SID = "AC" + "1" * 32


@pytest.mark.parametrize(("number", "masked"), [
    ("+14155550199", "+1******0199"),
    ("+447700900123", "+4*******0123"),
    ("+1 (415) 555-0199", "+1******0199"),
    ("12345", "*****"),
    ("", ""),
])
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


def test_mask_email_and_address() -> None:
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_email("not-an-address") == "***"
    assert mask_address("alice@example.com") == "a***@example.com"
    assert mask_address("+14155550199") == "+1******0199"


def test_redact_numbers_in_free_text_keeps_other_words() -> None:
    text = "The 'To' number +14155550199 is not a valid phone number (code 21211)."
    assert redact_numbers(text) == (
        "The 'To' number +1******0199 is not a valid phone number (code 21211).")


def test_twilio_settings_configured_needs_sender() -> None:
    assert not TwilioSettings().configured
    assert not TwilioSettings(account_sid=SID, auth_token="t").configured
    assert TwilioSettings(account_sid=SID, auth_token="t", from_number="+14155550100").configured
    assert TwilioSettings(account_sid=SID, auth_token="t",
                          messaging_service_sid="MG" + "2" * 32).configured
    assert not TwilioSettings(account_sid=SID, auth_token="", from_number="+14155550100").configured


def test_twilio_settings_default_base_url_and_secret_not_shown() -> None:
    settings = TwilioSettings(account_sid=SID, auth_token="s3cret", from_number="+14155550100")
    assert settings.base_url == TWILIO_API_BASE_URL
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    assert TwilioSettings(api_base_url="http://127.0.0.1:9/").base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("bad", [
    {"account_sid": "SK123"},
    {"from_number": "4155550100"},
    {"messaging_service_sid": "PN123"},
    {"api_base_url": "localhost:8080"},
    {"unknown_key": 1},
])
def test_twilio_settings_reject_likely_mistakes(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TwilioSettings.model_validate(bad)


def test_smtp_settings() -> None:
    assert not SmtpSettings().configured
    smtp = SmtpSettings(host="mail.example.com", from_address="oncall@example.com",
                        password="pw")
    assert smtp.configured and smtp.port == 587 and smtp.starttls
    assert "pw" not in repr(smtp)
