"""The inbound Twilio routes over real HTTP, driven by the fake Twilio's signed requests."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette

from oncall.interfaces import Channel, Outbound
from oncall.notify.inbound import twilio_routes
from oncall.notify.messages import help_text, not_understood_text, unknown_number_text
from oncall.notify.retry import RetryPolicy
from oncall.notify.settings import TwilioSettings
from oncall.notify.twilio_transport import TwilioTransport
from oncall.testing.clock import FakeClock
from oncall.testing.fake_twilio import FakeTwilio, twilio_signature
from oncall.testing.twilio_doubles import (
    ALICE,
    AUTH_TOKEN,
    BOB,
    FROM_NUMBER,
    STRANGER,
    Daemon,
    RecordingHandler,
    serve,
)


def reply_text(response: httpx.Response) -> str | None:
    """The <Message> text of a TwiML answer; None for an empty <Response/>."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    message = ET.fromstring(response.text).find("Message")
    return None if message is None else message.text


def text_from(fake: FakeTwilio, daemon: Daemon, body: str, phone: str = ALICE) -> str | None:
    return reply_text(fake.send_sms_reply(daemon.url, from_=phone, to=FROM_NUMBER, body=body))


REPLY_FORMS = [
    ("ack", ("acknowledged", "alice", None)),
    ("A", ("acknowledged", "alice", None)),
    ("1a", ("acknowledged", "alice", 1)),
    ("1 a", ("acknowledged", "alice", 1)),
    ("ack 1", ("acknowledged", "alice", 1)),
    ('"1A"', ("acknowledged", "alice", 1)),
    ("  Ack  12 ", ("acknowledged", "alice", 12)),
    ("1e", ("escalated", "alice", 1)),
    ("esc 1", ("escalated", "alice", 1)),
    ("escalate 1", ("escalated", "alice", 1)),
    ("1r", ("resolved", "alice", 1)),
    ("resolve 1", ("resolved", "alice", 1)),
    ("ack all", ("ack_all", "alice", None)),
    ("AA", ("ack_all", "alice", None)),
]


@pytest.mark.parametrize(("body", "expected"), REPLY_FORMS)
def test_signed_reply_forms_reach_the_handler(fake_twilio: FakeTwilio, daemon: Daemon,
                                              body: str, expected: tuple[object, ...]) -> None:
    answer = text_from(fake_twilio, daemon, body)
    [(action, person, code, now)] = daemon.handler.calls
    assert (action, person, code) == expected
    assert now == daemon.clock.now()
    assert answer is not None and "by alice" in answer


def test_forged_signature_is_403_and_changes_nothing(fake_twilio: FakeTwilio,
                                                     daemon: Daemon) -> None:
    response = fake_twilio.send_sms_reply(daemon.url, from_=ALICE, to=FROM_NUMBER, body="1a",
                                          signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 403
    assert daemon.handler.calls == []


def test_unsigned_request_is_403(fake_twilio: FakeTwilio, daemon: Daemon) -> None:
    response = fake_twilio.send_sms_reply(daemon.url, from_=ALICE, to=FROM_NUMBER, body="1a",
                                          signature="")
    assert response.status_code == 403
    assert daemon.handler.calls == []


def test_tampered_body_is_403(daemon: Daemon) -> None:
    """A signature copied from a genuine '1e' does not cover a changed Body."""
    url = daemon.url + "/twilio/sms"
    genuine = {"From": ALICE, "To": FROM_NUMBER, "Body": "1e"}
    signature = twilio_signature(AUTH_TOKEN, url, genuine)
    response = httpx.post(url, data={**genuine, "Body": "1r"},
                          headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert daemon.handler.calls == []


def test_signature_by_another_token_is_403(daemon: Daemon) -> None:
    url = daemon.url + "/twilio/status?key=k1"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    response = httpx.post(url, data=params,
                          headers={"X-Twilio-Signature": twilio_signature("other", url, params)})
    assert response.status_code == 403
    assert daemon.handler.statuses == []


def test_signature_covers_the_public_url_behind_a_proxy(fake_twilio: FakeTwilio,
                                                        clock: FakeClock) -> None:
    handler = RecordingHandler()
    public = "https://oncall.example.com"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = Starlette(routes=twilio_routes(handler, auth_token=AUTH_TOKEN, public_url=public,
                                         clock=clock.now))
    with serve(app, sock) as local:
        ok = fake_twilio.send_sms_reply(public, from_=ALICE, to=FROM_NUMBER, body="2a",
                                        via=local)
        # Signed for the local address instead of the public one: refused.
        bad = fake_twilio.send_sms_reply(local, from_=ALICE, to=FROM_NUMBER, body="3a")
    assert ok.status_code == 200 and bad.status_code == 403
    assert [c[2] for c in handler.calls] == [2]


def test_unknown_number_is_refused_briefly(fake_twilio: FakeTwilio, daemon: Daemon) -> None:
    assert text_from(fake_twilio, daemon, "1a", phone=STRANGER) == unknown_number_text()
    assert daemon.handler.calls == []


def test_reply_for_incident_not_paged_is_refused(fake_twilio: FakeTwilio,
                                                 daemon: Daemon) -> None:
    assert text_from(fake_twilio, daemon, "99a") == "#99 is not one of your pages."
    assert daemon.handler.calls == []


@pytest.mark.parametrize("body", ["hello?", "1", "ok thanks", "", "1x", "a b c"])
def test_unparseable_reply_gets_one_line_help(fake_twilio: FakeTwilio, daemon: Daemon,
                                              body: str) -> None:
    answer = text_from(fake_twilio, daemon, body)
    assert answer == not_understood_text()
    assert "\n" not in answer and len(answer) <= 160
    assert daemon.handler.calls == []


@pytest.mark.parametrize("body", ["HELP", "info"])
def test_help_keyword(fake_twilio: FakeTwilio, daemon: Daemon, body: str) -> None:
    assert text_from(fake_twilio, daemon, body) == help_text()


@pytest.mark.parametrize("stop", ["STOP", "stopall", "Unsubscribe", "cancel", "END", "quit"])
def test_stop_blocks_sms_silently(fake_twilio: FakeTwilio, daemon: Daemon, stop: str) -> None:
    assert text_from(fake_twilio, daemon, stop) is None
    assert daemon.handler.blocked == {"alice": True}


@pytest.mark.parametrize("start", ["START", "yes", "Unstop"])
def test_start_unblocks_sms(fake_twilio: FakeTwilio, daemon: Daemon, start: str) -> None:
    text_from(fake_twilio, daemon, "STOP", phone=BOB)
    answer = text_from(fake_twilio, daemon, start, phone=BOB)
    assert daemon.handler.blocked == {"bob": False}
    assert answer is not None and "back on" in answer


def test_auto_answers_are_capped_per_number(fake_twilio: FakeTwilio, daemon: Daemon) -> None:
    answers = [text_from(fake_twilio, daemon, "Thank you for your message!") for _ in range(7)]
    assert [a is not None for a in answers] == [True] * 5 + [False] * 2
    # Another number is not affected by alice's cap.
    assert text_from(fake_twilio, daemon, "hm", phone=BOB) is not None
    # An ack while capped still acknowledges; only the answer is withheld.
    assert text_from(fake_twilio, daemon, "1a") is None
    assert daemon.handler.calls[0][:3] == ("acknowledged", "alice", 1)
    daemon.clock.advance(timedelta(minutes=10))
    assert text_from(fake_twilio, daemon, "hello") is not None


@pytest.fixture
def paging(daemon: Daemon, twilio_settings: TwilioSettings,
           retry: RetryPolicy) -> TwilioTransport:
    """A transport whose callbacks point at the test daemon."""
    return TwilioTransport(twilio_settings, daemon.url, retry=retry)


def page(transport: TwilioTransport, channel: Channel, key: str) -> None:
    transport.send(Outbound(key=key, channel=channel, to=ALICE, person_id="alice",
                            incident_ids=(1,), text="Urgent ticket from Acme: production down."))


@pytest.mark.parametrize(("status", "error_code", "expected"), [
    ("delivered", None, "delivered"),
    ("sent", None, "sent"),
    ("undelivered", 30003, "undelivered"),
    ("failed", 30008, "failed"),
])
def test_sms_status_callbacks_are_mapped(fake_twilio: FakeTwilio, daemon: Daemon,
                                         paging: TwilioTransport, status: str,
                                         error_code: int | None, expected: str) -> None:
    page(paging, Channel.SMS, "row-5")
    [message] = fake_twilio.messages
    assert fake_twilio.send_status(message, status, error_code=error_code).status_code == 200
    assert daemon.handler.statuses == [{
        "key": "row-5", "provider_id": message.sid, "status": expected,
        "error_code": error_code, "answered_by": None, "now": daemon.clock.now()}]


@pytest.mark.parametrize(("status", "answered_by", "expected"), [
    ("no-answer", None, "no-answer"),
    ("busy", None, "busy"),
    ("failed", None, "failed"),
    ("completed", "human", "completed"),
    ("completed", "machine_start", "no-answer"),
    ("completed", "machine_end_beep", "no-answer"),
    ("completed", "fax", "no-answer"),
    ("ringing", None, "ringing"),
])
def test_call_status_callbacks_are_mapped(fake_twilio: FakeTwilio, daemon: Daemon,
                                          paging: TwilioTransport, status: str,
                                          answered_by: str | None, expected: str) -> None:
    page(paging, Channel.VOICE, "row-6")
    [placed] = fake_twilio.calls
    fake_twilio.send_status(placed, status, answered_by=answered_by)
    [update] = daemon.handler.statuses
    assert (update["key"], update["provider_id"], update["status"], update["answered_by"]) == (
        "row-6", placed.sid, expected, answered_by)


def test_forged_status_callback_changes_nothing(fake_twilio: FakeTwilio, daemon: Daemon,
                                                paging: TwilioTransport) -> None:
    page(paging, Channel.SMS, "row-7")
    [message] = fake_twilio.messages
    url = message.status_callback
    assert url is not None
    response = httpx.post(url, data={"MessageSid": message.sid, "MessageStatus": "failed"},
                          headers={"X-Twilio-Signature": "forged"})
    assert response.status_code == 403
    assert daemon.handler.statuses == []


@pytest.mark.parametrize(("digits", "expected"), [("4", "ack_page"), ("5", "escalate_page")])
def test_keypress_acks_or_escalates_the_page(fake_twilio: FakeTwilio, daemon: Daemon,
                                             paging: TwilioTransport, digits: str,
                                             expected: str) -> None:
    page(paging, Channel.VOICE, "row-8")
    [placed] = fake_twilio.calls
    response = fake_twilio.send_keypress(placed, digits)
    assert response.status_code == 200
    assert daemon.handler.calls == [(expected, "row-8", None, daemon.clock.now())]
    twiml = ET.fromstring(response.text)
    assert twiml.find("Say") is not None and twiml.find("Hangup") is not None


@pytest.mark.parametrize(("digits", "apology"), [("*", False), ("9", True)])
def test_star_repeats_the_script(fake_twilio: FakeTwilio, daemon: Daemon,
                                 paging: TwilioTransport, digits: str, apology: bool) -> None:
    daemon.handler.scripts["row-9"] = "Urgent ticket from Acme: production down."
    page(paging, Channel.VOICE, "row-9")
    response = fake_twilio.send_keypress(fake_twilio.calls[0], digits)
    twiml = ET.fromstring(response.text)
    gather = twiml.find("Gather")
    assert gather is not None
    assert gather.get("action") == f"{daemon.url}/twilio/voice/gather?key=row-9"
    assert gather.findtext("Say") == "Urgent ticket from Acme: production down."
    assert (twiml[0].tag == "Say") is apology
    assert daemon.handler.calls == []


def test_forged_keypress_is_403(fake_twilio: FakeTwilio, daemon: Daemon,
                                paging: TwilioTransport) -> None:
    page(paging, Channel.VOICE, "row-10")
    [placed] = fake_twilio.calls
    assert placed.gather_action is not None
    response = httpx.post(placed.gather_action, data={"Digits": "4", "CallSid": placed.sid},
                          headers={"X-Twilio-Signature": fake_twilio.sign(daemon.url, {})})
    assert response.status_code == 403
    assert daemon.handler.calls == []


@pytest.mark.parametrize(("answered_by", "gathers"), [("machine_start", False),
                                                      ("human", True), ("", True)])
def test_answer_endpoint_leaves_voicemail_for_machines(fake_twilio: FakeTwilio,
                                                       daemon: Daemon, answered_by: str,
                                                       gathers: bool) -> None:
    params = {"CallSid": "CA1", "From": FROM_NUMBER, "To": ALICE, "CallStatus": "in-progress"}
    if answered_by:
        params["AnsweredBy"] = answered_by
    response = fake_twilio.post_signed(daemon.url + "/twilio/voice/answer?key=row-11", params)
    assert response.status_code == 200
    assert (ET.fromstring(response.text).find("Gather") is not None) is gathers


def test_keys_with_reserved_characters_survive_signing(fake_twilio: FakeTwilio, daemon: Daemon,
                                                       paging: TwilioTransport) -> None:
    page(paging, Channel.SMS, "incident 7/sms&alice=1")
    fake_twilio.send_status(fake_twilio.messages[0], "delivered")
    assert [u["key"] for u in daemon.handler.statuses] == ["incident 7/sms&alice=1"]


def test_handler_failure_tells_the_engineer_the_ack_did_not_land(
        fake_twilio: FakeTwilio, daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(person_id: str, code: int | None, now: object) -> str:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(daemon.handler, "ack", broken)
    answer = text_from(fake_twilio, daemon, "1a")
    assert answer is not None and "could NOT be processed" in answer
