"""TwilioTransport with the real twilio library against the fake Twilio server."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import structlog.testing

from oncall.errors import ConfigError, DeliveryError, PermanentDeliveryError
from oncall.interfaces import Channel, Outbound
from oncall.notify.retry import RetryPolicy
from oncall.notify.settings import TwilioSettings
from oncall.notify.twilio_transport import TwilioTransport
from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import ACCOUNT_SID, ALICE, AUTH_TOKEN, FROM_NUMBER

PUBLIC = "https://oncall.example.com"


def sms(key: str = "ledger-1", to: str = ALICE, text: str = "URGENT #1 acme: down") -> Outbound:
    return Outbound(key=key, channel=Channel.SMS, to=to, person_id="alice",
                    incident_ids=(1,), text=text)


def call(key: str = "ledger-2", to: str = ALICE) -> Outbound:
    return Outbound(key=key, channel=Channel.VOICE, to=to, person_id="alice", incident_ids=(1,),
                    text="Urgent ticket from Acme: production down. Press 4 to acknowledge, "
                         "5 to escalate, star to repeat.")


@pytest.fixture
def transport(twilio_settings: TwilioSettings, retry: RetryPolicy) -> TwilioTransport:
    return TwilioTransport(twilio_settings, PUBLIC, retry=retry, timeout=2.0)


def test_sms_from_number_reaches_fake_with_callback(transport: TwilioTransport,
                                                    fake_twilio: FakeTwilio) -> None:
    result = transport.send(sms(key="row/7"))
    [message] = fake_twilio.wait_for_messages(1, timeout=5)
    assert (message.to, message.from_, message.body) == (ALICE, FROM_NUMBER,
                                                         "URGENT #1 acme: down")
    assert message.messaging_service_sid is None
    assert message.status_callback == f"{PUBLIC}/twilio/status?key=row%2F7"
    assert result.provider_id == message.sid and message.sid.startswith("SM")
    assert result.status == "queued"


def test_sms_from_messaging_service(fake_twilio: FakeTwilio, retry: RetryPolicy) -> None:
    settings = TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                              messaging_service_sid="MG" + "1" * 32,
                              api_base_url=fake_twilio.base_url)
    transport = TwilioTransport(settings, PUBLIC, retry=retry)
    result = transport.send(sms())
    [message] = fake_twilio.messages
    assert message.messaging_service_sid == "MG" + "1" * 32
    assert message.from_ is None
    assert result.status == "accepted"
    assert transport.channels() == frozenset({Channel.SMS})
    with pytest.raises(PermanentDeliveryError):
        transport.send(call())


def test_voice_call_gathers_keypress_with_machine_detection(transport: TwilioTransport,
                                                            fake_twilio: FakeTwilio) -> None:
    result = transport.send(call(key="k9"))
    [placed] = fake_twilio.wait_for_calls(1, timeout=5)
    assert result.provider_id == placed.sid and placed.sid.startswith("CA")
    assert (placed.to, placed.from_) == (ALICE, FROM_NUMBER)
    assert placed.machine_detection == "Enable"
    assert placed.status_callback == f"{PUBLIC}/twilio/status?key=k9"
    assert set(placed.status_callback_events) == {"initiated", "ringing", "answered",
                                                  "completed"}
    assert placed.twiml is not None
    gather = ET.fromstring(placed.twiml).find("Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == f"{PUBLIC}/twilio/voice/gather?key=k9"
    say = gather.find("Say")
    assert say is not None and say.get("loop") == "3"
    assert "Press 4 to acknowledge, 5 to escalate, star to repeat" in (say.text or "")


@pytest.mark.parametrize(("status", "code"), [(429, None), (429, 20429), (500, None),
                                              (503, None)])
def test_transient_errors_are_retried_then_succeed(transport: TwilioTransport,
                                                   fake_twilio: FakeTwilio, sleeps: list[float],
                                                   status: int, code: int | None) -> None:
    fake_twilio.fail_next(2, status=status, code=code)
    result = transport.send(sms())
    assert [r.outcome for r in fake_twilio.requests] == [str(status), str(status), "201"]
    assert result.provider_id == fake_twilio.messages[0].sid
    assert len(sleeps) == 2 and all(0 <= s <= 4 for s in sleeps)


def test_retries_are_bounded_then_delivery_error(transport: TwilioTransport,
                                                 fake_twilio: FakeTwilio,
                                                 sleeps: list[float]) -> None:
    fake_twilio.fail_next(5, status=500)
    with pytest.raises(DeliveryError) as info:
        transport.send(sms())
    assert not isinstance(info.value, PermanentDeliveryError)
    assert len(fake_twilio.requests) == 3
    assert fake_twilio.messages == []


def test_timeouts_are_retried(fake_twilio: FakeTwilio, twilio_settings: TwilioSettings,
                              retry: RetryPolicy) -> None:
    transport = TwilioTransport(twilio_settings, PUBLIC, retry=retry, timeout=0.2)
    fake_twilio.fail_next(1, status="timeout")
    fake_twilio.fail_next(1, status="drop")
    result = transport.send(sms())
    assert [r.outcome for r in fake_twilio.requests] == ["timeout", "drop", "201"]
    assert result.status == "queued"


def test_timeouts_exhausted_raise_delivery_error(fake_twilio: FakeTwilio,
                                                 twilio_settings: TwilioSettings,
                                                 retry: RetryPolicy) -> None:
    transport = TwilioTransport(twilio_settings, PUBLIC, retry=retry, timeout=0.2)
    fake_twilio.fail_next(3, status="timeout")
    with pytest.raises(DeliveryError, match="timed out"):
        transport.send(sms())


@pytest.mark.parametrize("code", [21610, 21211, 21614])
def test_permanent_errors_are_not_retried(transport: TwilioTransport, fake_twilio: FakeTwilio,
                                          sleeps: list[float], code: int) -> None:
    fake_twilio.fail_number(ALICE, status=400, code=code)
    with pytest.raises(PermanentDeliveryError) as info:
        transport.send(sms())
    assert info.value.code == code
    assert len(fake_twilio.requests) == 1
    assert sleeps == []


def test_other_4xx_is_permanent_with_code(transport: TwilioTransport,
                                          fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next(1, status=400, code=21617, message="body too long")
    with pytest.raises(PermanentDeliveryError) as info:
        transport.send(sms())
    assert info.value.code == 21617


def test_wrong_credentials_are_an_account_error_not_the_numbers_fault(
        fake_twilio: FakeTwilio, retry: RetryPolicy) -> None:
    settings = TwilioSettings(account_sid=ACCOUNT_SID, auth_token="wrong",
                              from_number=FROM_NUMBER, api_base_url=fake_twilio.base_url)
    transport = TwilioTransport(settings, PUBLIC, retry=retry)
    with pytest.raises(DeliveryError) as info:
        transport.send(sms())
    assert not isinstance(info.value, PermanentDeliveryError)
    assert fake_twilio.requests[0].authorized is False


def test_phone_numbers_and_token_never_logged_unmasked(transport: TwilioTransport,
                                                       fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_number("+14155550198", status=400, code=21211)
    with structlog.testing.capture_logs() as logs:
        transport.send(sms())
        with pytest.raises(PermanentDeliveryError) as info:
            transport.send(sms(to="+14155550198"))
    text = repr(logs) + str(info.value)
    assert "4155550199" not in text and "4155550198" not in text
    assert AUTH_TOKEN not in text
    assert "+1******0199" in text


def test_outage_is_reported_after_consecutive_failures(transport: TwilioTransport,
                                                       fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next(9, status=503)
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            with pytest.raises(DeliveryError):
                transport.send(sms())
    assert not transport.healthy
    assert any(e["event"] == "twilio.outage_suspected" and e["log_level"] == "critical"
               for e in logs)
    transport.send(sms())
    assert transport.healthy


def test_environment_edge_does_not_redirect_requests(
        monkeypatch: pytest.MonkeyPatch, twilio_settings: TwilioSettings, retry: RetryPolicy,
        fake_twilio: FakeTwilio) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    TwilioTransport(twilio_settings, PUBLIC, retry=retry).send(sms())
    assert len(fake_twilio.messages) == 1


def test_incomplete_settings_or_missing_public_url_refused() -> None:
    with pytest.raises(ConfigError):
        TwilioTransport(TwilioSettings(account_sid=ACCOUNT_SID), PUBLIC)
    settings = TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                              from_number=FROM_NUMBER)
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        TwilioTransport(settings, None)
