"""However oncall learns that a person texted STOP — their STOP reaching us, or Twilio's status
callback saying a text was refused for it — the same one piece of code remembers it and tells
the admins once; the next page calls them first."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote, urlencode

from daemon_rig import MakeRig, Rig

from oncall.interfaces import Channel
from oncall.testing.fake_twilio import twilio_signature
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

PUBLIC = "http://127.0.0.1:18080"
TWILIO = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM_NUMBER,
          "api_base_url": "http://127.0.0.1:9"}  # the transport is injected: never called
STOPPED = "21610"  # Twilio's error for a recipient who texted STOP


def refused_for_stop(rig: Rig, key: str) -> int:
    path = f"/twilio/status?key={quote(key, safe='')}"
    params = {"MessageSid": "FAKE000001", "MessageStatus": "undelivered", "ErrorCode": STOPPED,
              "AccountSid": ACCOUNT_SID}
    response = rig.request("POST", path, content=urlencode(params).encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(AUTH_TOKEN, PUBLIC + path, params)})
    return response.status_code


def test_a_status_callback_saying_stop_blocks_sms_and_tells_the_admins_once(make_rig: MakeRig) -> None:
    rig = make_rig(twilio=TWILIO, public_url=PUBLIC)
    who = rig.on_call()
    rig.file("T-1")
    rig.work()
    [first] = rig.to(who)
    assert 200 == refused_for_stop(rig, first.key)
    assert rig.daemon.alerts.sms_blocked(who)
    rig.work()  # same instant
    assert Channel.VOICE == rig.to(who)[-1].channel  # this page fails over to a call at once
    assert 1 == len([m for m in rig.to("gina") if f"{who} texted STOP" in m.text])
    assert 200 == refused_for_stop(rig, first.key)  # a repeated callback is the same episode
    assert 1 == len([m for m in rig.to("gina") if f"{who} texted STOP" in m.text])
    rig.clock.advance(timedelta(minutes=6))  # past the storm limit for calls to one person
    rig.file("T-2")
    rig.work()
    assert Channel.VOICE == rig.to(who)[-1].channel
