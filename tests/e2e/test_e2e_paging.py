"""Issue 5.9 end to end: the real daemon, the real twilio library, the fake Twilio on 127.0.0.1.

Ticket in → SMS out → signed reply ``1a`` → acknowledged → no further SMS or calls; a forged
reply → 403 and no change; a failed SMS → a voice call at once.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET

import pytest
from e2e_process import PHONES, DaemonProcess, assert_nothing_secret_logged, ticket, wait_until

from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import FROM_NUMBER

pytestmark = pytest.mark.e2e


def person_with(phone: str) -> str:
    return next(p for p, number in PHONES.items() if number == phone)


def test_sms_reply_acknowledges_and_paging_stops(daemon: DaemonProcess, fake: FakeTwilio) -> None:
    daemon.start()
    assert 202 == daemon.post_ticket(ticket("T-100", "fast")).status_code
    [sms] = fake.wait_for_messages(1, timeout=10)
    assert sms.from_ == FROM_NUMBER and "T-100" in sms.body and "1a" in sms.body
    assert sms.status_callback is not None and sms.status_callback.startswith(daemon.url + "/twilio/status")

    # A forged reply: 403, nothing changes.
    forged = fake.send_sms_reply(daemon.url, from_=sms.to, to=FROM_NUMBER, body="1a", signature="Zm9yZ2Vk")
    assert 403 == forged.status_code
    [inc] = daemon.incidents()
    assert "triggered" == inc["state"]

    reply = fake.send_sms_reply(daemon.url, from_=sms.to, to=FROM_NUMBER, body="1a")
    assert 200 == reply.status_code
    answer = ET.fromstring(reply.text).findtext("Message") or ""
    who = person_with(sms.to)
    assert f"#1 acknowledged by {who}" in answer
    acked_at = time.monotonic()

    listed = json.loads(daemon.cli("incidents", "--json").stdout)
    assert [("T-100", "acknowledged", who)] == [(i["ticket_id"], i["state"], i["acknowledged_by"])
                                               for i in listed]

    # The fast policy would have called by now (1 s step delay). Let the step fall due,
    # then prove the worker ran after it: file a ticket that does not page and wait for
    # its outcome to be counted. Nothing more may have reached the fake.
    wait_until("the step delay to pass", lambda: time.monotonic() - acked_at > 1.5, timeout=5)
    daemon.post_ticket(ticket("T-101", "quiet"))
    wait_until("the quiet ticket to be processed",
               lambda: daemon.metric('oncall_tickets_received_total{outcome="no_page",source="generic"}') >= 1)
    assert (1, 0) == (len(fake.messages), len(fake.calls))
    assert "acknowledged" == daemon.api(f"/api/incidents/{inc['id']}")["state"]
    assert 0 == daemon.stop()
    assert_nothing_secret_logged(daemon)


def test_failed_sms_calls_at_once(daemon: DaemonProcess, fake: FakeTwilio) -> None:
    """The slow policy waits ten minutes between steps: a call within seconds is the failover."""
    daemon.start()
    daemon.post_ticket(ticket("T-200", "slow"))
    [sms] = fake.wait_for_messages(1, timeout=10)
    # A forged status callback changes nothing.
    assert sms.status_callback is not None
    forged = fake.post_signed(sms.status_callback, {"MessageSid": sms.sid, "MessageStatus": "undelivered",
                                                    "ErrorCode": "30003"}, signature="Zm9yZ2Vk")
    assert 403 == forged.status_code
    daemon.post_ticket(ticket("T-199", "quiet"))
    wait_until("the quiet ticket to be processed",
               lambda: daemon.metric('oncall_tickets_received_total{outcome="no_page",source="generic"}') >= 1)
    assert [] == fake.calls
    # An undelivered SMS reported by a genuine status callback.
    assert 200 == fake.send_status(sms, "undelivered", error_code=30003).status_code
    [call] = fake.wait_for_calls(1, timeout=10)
    assert call.to == sms.to
    assert call.machine_detection is not None
    # A keypress 4 on that call acknowledges it.
    pressed = fake.send_keypress(call, "4")
    assert 200 == pressed.status_code and "acknowledged" in pressed.text
    [inc] = daemon.incidents()
    assert ("acknowledged", person_with(call.to)) == (inc["state"], inc["acknowledged_by"])

    # An SMS refused at once by Twilio (21610: the recipient texted STOP).
    # (fail_next, not fail_number: the fake would refuse the call to that number too)
    fake.fail_next(1, status=400, code=21610)
    daemon.post_ticket(ticket("T-201", "slow"))
    calls = fake.wait_for_calls(2, timeout=10)
    assert sms.to == calls[1].to
    assert [sms.sid] == [m.sid for m in fake.messages if m.to == sms.to]  # the refused SMS was not accepted
    # Admins hear that the engineer's SMS is blocked.
    wait_until("an admin alert", lambda: [m for m in fake.messages if m.to == PHONES["gina"]])
    second = [i for i in daemon.incidents() if i["ticket_id"] == "T-201"]
    assert "triggered" == second[0]["state"]
    assert 0 == daemon.stop()
    assert_nothing_secret_logged(daemon)
