"""The daemon's Twilio inbound routes over the real incident service: signed SMS replies,
keypresses, status callbacks and STOP, through the ASGI app (no sockets)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from daemon_rig import PHONES, MakeRig, Rig

from oncall.interfaces import Channel
from oncall.testing.fake_twilio import twilio_signature
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

PUBLIC = "http://127.0.0.1:18080"
TWILIO = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM_NUMBER,
          "api_base_url": "http://127.0.0.1:9"}  # the transport is injected: never called


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig(twilio=TWILIO, public_url=PUBLIC)


def signed_post(rig: Rig, path: str, params: dict[str, str], *, forge: bool = False) -> httpx.Response:
    signature = twilio_signature(AUTH_TOKEN, PUBLIC + path, params)
    if forge:
        signature = twilio_signature("not-the-token", PUBLIC + path, params)
    return rig.request("POST", path, data=params, headers={"X-Twilio-Signature": signature})


def sms(rig: Rig, person: str, body: str, **kwargs: Any) -> str | None:
    response = signed_post(rig, "/twilio/sms", {"From": PHONES[person], "To": FROM_NUMBER, "Body": body,
                                                "MessageSid": "SM" + "1" * 32, "AccountSid": ACCOUNT_SID},
                           **kwargs)
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    message = ET.fromstring(response.text).find("Message")
    return None if message is None else message.text


def page(rig: Rig, *ticket_ids: str) -> list[int]:
    for tid in ticket_ids:
        rig.file(tid)
    rig.work()
    return [i.id for i in rig.daemon.service.list()]


def state(rig: Rig, incident_id: int) -> str:
    return rig.daemon.service.get(incident_id).state.value


def test_ack_by_code(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    who = rig.on_call()
    code = rig.to(who)[0].text.split("#")[1].split(" ")[0]
    answer = sms(rig, who, f"{code}a")
    assert "acknowledged" == state(rig, inc)
    assert answer is not None and f"#{code} acknowledged by {who}" in answer
    assert who == rig.daemon.service.get(inc).acknowledged_by


def test_ack_stops_further_pages(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    sms(rig, rig.on_call(), "1a")
    sent = len(rig.transport.sent)
    for _ in range(3):
        rig.clock.advance(timedelta(minutes=20))
        rig.work()
    assert sent == len(rig.transport.sent)
    assert "acknowledged" == state(rig, inc)


def test_bare_ack_takes_the_latest_page(rig: Rig) -> None:
    first, second = page(rig, "T-1", "T-2")
    sms(rig, rig.on_call(), "ack")
    assert {"triggered", "acknowledged"} == {state(rig, first), state(rig, second)}


def test_ack_all(rig: Rig) -> None:
    ids = page(rig, "T-1", "T-2", "T-3")
    answer = sms(rig, rig.on_call(), "aa")
    assert ["acknowledged"] * 3 == [state(rig, i) for i in ids]
    assert answer is not None and "acknowledged by" in answer


def test_escalate_makes_the_next_step_go_out_now(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    who = rig.on_call()
    sms(rig, who, "1e")
    rig.work()  # the same instant: no waiting out the 5-minute step
    assert [Channel.SMS, Channel.VOICE] == [m.channel for m in rig.to(who)]
    assert "triggered" == state(rig, inc)


def test_resolve(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    sms(rig, rig.on_call(), "resolve 1")
    assert "resolved" == state(rig, inc)


def test_unknown_code_is_refused_and_changes_nothing(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    answer = sms(rig, rig.on_call(), "7a")
    assert answer is not None and "#7" in answer
    assert "triggered" == state(rig, inc)


def test_person_not_paged_is_refused(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    other = "frank" if rig.on_call() == "erin" else "erin"
    answer = sms(rig, other, "1a")
    assert answer is not None and "no open page" in answer.lower()
    assert "triggered" == state(rig, inc)


def test_stranger_is_refused(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    response = signed_post(rig, "/twilio/sms", {"From": "+15005550006", "To": FROM_NUMBER, "Body": "1a"})
    assert "not on the on-call roster" in response.text
    assert "triggered" == state(rig, inc)


def test_forged_reply_is_403_and_changes_nothing(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    assert "HTTP 403" == sms(rig, rig.on_call(), "1a", forge=True)
    assert "triggered" == state(rig, inc)


def _voice(rig: Rig) -> str:
    """Escalate to the voice step and return the call's ledger key."""
    rig.clock.advance(timedelta(minutes=5))
    rig.work()
    [call] = rig.to(rig.on_call(), Channel.VOICE)
    return call.key


def test_keypress_4_acknowledges_via_the_ledger_key(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    key = _voice(rig)
    response = signed_post(rig, f"/twilio/voice/gather?key={quote(key, safe='')}",
                           {"CallSid": "CA" + "2" * 32, "Digits": "4", "From": FROM_NUMBER,
                            "To": PHONES[rig.on_call()]})
    assert 200 == response.status_code and "acknowledged" in response.text
    assert "acknowledged" == state(rig, inc)


def test_keypress_with_unknown_key_changes_nothing(rig: Rig) -> None:
    [inc] = page(rig, "T-1")
    response = signed_post(rig, "/twilio/voice/gather?key=nope", {"CallSid": "CA" + "2" * 32, "Digits": "4"})
    assert 200 == response.status_code and "not known" in response.text
    assert "triggered" == state(rig, inc)


def test_undelivered_sms_status_calls_at_once(rig: Rig) -> None:
    page(rig, "T-1")
    who = rig.on_call()
    [first] = rig.to(who)
    response = signed_post(rig, f"/twilio/status?key={quote(first.key, safe='')}",
                           {"MessageSid": "FAKE000001", "MessageStatus": "undelivered", "ErrorCode": "30003",
                            "AccountSid": ACCOUNT_SID})
    assert 200 == response.status_code
    rig.work()  # same instant
    assert [Channel.SMS, Channel.VOICE] == [m.channel for m in rig.to(who)]


def test_stop_blocks_sms_and_alerts_admins_once(rig: Rig) -> None:
    page(rig, "T-1")
    who = rig.on_call()
    assert sms(rig, who, "STOP") is None  # the carrier answers STOP itself
    assert rig.daemon.alerts.sms_blocked(who)
    alerts = [m for m in rig.to("gina") if "texted STOP" in m.text]
    assert 1 == len(alerts)
    rig.clock.advance(timedelta(minutes=1))
    sms(rig, who, "STOP")  # again, later: still one alert
    assert 1 == len([m for m in rig.to("gina") if "texted STOP" in m.text])
    # The next page for that person goes by voice, not SMS.
    rig.file("T-2")
    rig.work()
    assert Channel.VOICE == rig.to(who)[-1].channel


def test_start_unblocks(rig: Rig) -> None:
    who = rig.on_call()
    sms(rig, who, "STOP")
    answer = sms(rig, who, "START")
    assert not rig.daemon.alerts.sms_blocked(who)
    assert answer is not None and "back on" in answer


def test_blocked_person_survives_a_restart(make_rig: MakeRig) -> None:
    first = make_rig(twilio=TWILIO, public_url=PUBLIC)
    who = first.on_call()
    sms(first, who, "STOP")
    again = make_rig(twilio=TWILIO, public_url=PUBLIC)
    assert again.daemon.alerts.sms_blocked(who)
    assert f"{who} texted STOP" in again.daemon.banner()


def test_unsubscribed_at_send_time_blocks_sms_for_the_next_page(rig: Rig) -> None:
    """Twilio refusing an SMS with 21610 at send time marks the person blocked: the same
    page fails over to voice, the admins hear of it once, and the next page goes by voice first."""
    from oncall.errors import PermanentDeliveryError

    who = rig.on_call()
    rig.transport.fail = lambda m: (PermanentDeliveryError("unsubscribed", code=21610)
                                    if m.channel is Channel.SMS and m.person_id == who else None)
    page(rig, "T-1")
    assert rig.daemon.alerts.sms_blocked(who)
    assert Channel.VOICE == rig.to(who)[-1].channel
    assert 1 == len([m for m in rig.to("gina") if "refused by the carrier" in m.text])
    sent_before = len(rig.to(who))
    rig.file("T-2")
    rig.work()
    rig.clock.advance(timedelta(minutes=6))  # past the storm limit for calls to one person
    rig.work()
    assert Channel.VOICE == rig.to(who)[sent_before].channel
    assert all(m.channel is not Channel.SMS for m in rig.to(who)[sent_before:])
