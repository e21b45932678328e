"""Console and SMTP transports, and the test-page helper."""

from __future__ import annotations

import io
import smtplib
import socket
from datetime import UTC, datetime, timedelta
from email import message_from_string
from typing import Any

import pytest
import structlog.testing

from oncall.errors import ConfigError, DeliveryError, PermanentDeliveryError
from oncall.interfaces import Channel, Outbound, Transport
from oncall.notify import testpage
from oncall.notify.console import ConsoleTransport
from oncall.notify.ratecap import ReplyCap
from oncall.notify.retry import RetryPolicy
from oncall.notify.settings import SmtpSettings, TwilioSettings
from oncall.notify.smtp import SmtpTransport
from oncall.notify.twilio_transport import TwilioTransport
from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import ALICE

SmtpInbox = Any  # the smtp_server fixture's inbox (tests/notify/conftest.py)


def email(to: str = "alice@example.com") -> Outbound:
    return Outbound(key="row-1", channel=Channel.EMAIL, to=to, person_id="alice",
                    incident_ids=(1, 2), text="URGENT #1 acme: Production down\nReply by SMS.",
                    subject="[oncall] URGENT #1 acme: Production down")


def test_console_prints_pages_with_sequential_ids() -> None:
    out = io.StringIO()
    console = ConsoleTransport(out)
    assert console.channels() == frozenset(Channel)
    with structlog.testing.capture_logs() as logs:
        first = console.send(Outbound(key="k", channel=Channel.SMS, to=ALICE, person_id="alice",
                                      incident_ids=(1,), text="URGENT #1 acme: down"))
        second = console.send(email())
    assert (first.provider_id, second.provider_id) == ("console-1", "console-2")
    assert first.status == "printed"
    printed = out.getvalue()
    assert "PAGE (sms) to alice <+1******0199>  incidents #1" in printed
    assert "URGENT #1 acme: down" in printed
    assert "Subject: [oncall] URGENT #1 acme: Production down" in printed
    assert "4155550199" not in printed + repr(logs)
    assert [e["event"] for e in logs] == ["console.page", "console.page"]


def test_console_prints_nothing_on_stdout_when_logs_are_json(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """With JSON logs stdout must carry JSON lines only: the page is in the log line alone."""
    from oncall import logs as oncall_logs

    monkeypatch.setattr(oncall_logs, "_renders_json", True)
    with structlog.testing.capture_logs() as logs:
        ConsoleTransport().send(Outbound(key="k", channel=Channel.SMS, to=ALICE, person_id="alice",
                                         incident_ids=(1,), text="URGENT #1 acme: down"))
    assert "" == capsys.readouterr().out
    assert ["URGENT #1 acme: down"] == [e["text"] for e in logs]


def test_console_prints_the_block_on_stdout_for_console_logs(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from oncall import logs as oncall_logs

    monkeypatch.setattr(oncall_logs, "_renders_json", False)
    ConsoleTransport().send(Outbound(key="k", channel=Channel.SMS, to=ALICE, person_id="alice",
                                     incident_ids=(1,), text="URGENT #1 acme: down"))
    assert "URGENT #1 acme: down" in capsys.readouterr().out


def smtp_transport(port: int, **overrides: Any) -> SmtpTransport:
    settings = SmtpSettings(**{"host": "127.0.0.1", "port": port, "starttls": False,
                               "from_address": "oncall@example.com", "timeout_seconds": 5,
                               **overrides})
    return SmtpTransport(settings, retry=RetryPolicy(sleep=lambda _s: None))


def test_smtp_delivers_to_a_local_server(smtp_server: tuple[int, SmtpInbox]) -> None:
    port, inbox = smtp_server
    result = smtp_transport(port).send(email())
    assert inbox.received.wait(5)
    [received] = inbox.messages
    assert received["from"] == "oncall@example.com"
    assert received["to"] == ["alice@example.com"]
    parsed = message_from_string(received["data"])
    assert parsed["Subject"] == "[oncall] URGENT #1 acme: Production down"
    assert parsed["X-Oncall-Key"] == "row-1"
    assert "Production down" in parsed.get_payload()
    assert result.provider_id == parsed["Message-ID"] and result.status == "accepted"


def test_smtp_rejected_recipient_is_permanent(smtp_server: tuple[int, SmtpInbox]) -> None:
    port, inbox = smtp_server
    inbox.reject_rcpt["nobody@example.com"] = 550
    with pytest.raises(PermanentDeliveryError) as info:
        smtp_transport(port).send(email("nobody@example.com"))
    assert info.value.code == 550
    assert inbox.messages == []


def test_smtp_deferred_recipient_is_retried_then_fails(smtp_server: tuple[int, SmtpInbox]
                                                       ) -> None:
    port, inbox = smtp_server
    inbox.reject_rcpt["busy@example.com"] = 451
    with pytest.raises(DeliveryError) as info:
        smtp_transport(port).send(email("busy@example.com"))
    assert not isinstance(info.value, PermanentDeliveryError)


def test_smtp_unreachable_relay_is_a_delivery_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    with pytest.raises(DeliveryError, match="cannot reach"):
        smtp_transport(port).send(email())


def test_smtp_starttls_required_but_not_offered(smtp_server: tuple[int, SmtpInbox]) -> None:
    port, _ = smtp_server
    with pytest.raises(DeliveryError, match="STARTTLS"):
        smtp_transport(port, starttls=True).send(email())


def test_smtp_refuses_other_channels_and_needs_settings() -> None:
    with pytest.raises(ConfigError):
        SmtpTransport(SmtpSettings())
    transport = smtp_transport(25)
    with pytest.raises(PermanentDeliveryError):
        transport.send(Outbound(key="k", channel=Channel.SMS, to=ALICE, person_id="alice",
                                incident_ids=(), text="x"))
    assert transport.channels() == frozenset({Channel.EMAIL})
    assert smtplib.SMTP  # the default factory is the standard library's


def test_test_page_reports_what_twilio_said(fake_twilio: FakeTwilio,
                                           twilio_settings: TwilioSettings,
                                           retry: RetryPolicy) -> None:
    transport: Transport = TwilioTransport(twilio_settings, "https://oncall.example.com",
                                           retry=retry)
    report = testpage.test_page(transport, person_id="alice", phone=ALICE, voice=True)
    [sms_line, voice_line] = report.splitlines()
    assert sms_line.startswith("sms to alice <+1******0199> via twilio: queued, id SM")
    assert voice_line.startswith("voice to alice <+1******0199> via twilio: queued, id CA")
    assert fake_twilio.messages[0].body.startswith("oncall test page for alice")
    assert len(fake_twilio.calls) == 1


def test_test_page_reports_refusal(fake_twilio: FakeTwilio, twilio_settings: TwilioSettings,
                                   retry: RetryPolicy) -> None:
    fake_twilio.fail_number(ALICE, status=400, code=21610)
    transport = TwilioTransport(twilio_settings, "https://oncall.example.com", retry=retry)
    report = testpage.test_page(transport, person_id="alice", phone=ALICE)
    assert "REFUSED (code 21610): recipient replied STOP" in report
    assert "4155550199" not in report


def test_reply_cap_is_a_sliding_window() -> None:
    cap = ReplyCap(limit=2, window=timedelta(minutes=10))
    t0 = datetime(2028, 2, 29, 23, 55, tzinfo=UTC)
    assert [cap.allow("+1", t0), cap.allow("+1", t0 + timedelta(minutes=1)),
            cap.allow("+1", t0 + timedelta(minutes=2))] == [True, True, False]
    assert cap.allow("+2", t0)
    assert cap.allow("+1", t0 + timedelta(minutes=10))  # the first answer aged out
    assert not cap.allow("+1", t0 + timedelta(minutes=10, seconds=30))
