"""`oncall sms-reply`: an SMS reply without a phone, through the running service's state."""

from __future__ import annotations

from e2e_process import DaemonProcess, ticket, wait_until

from oncall.testing.fake_twilio import FakeTwilio


def test_sms_reply_acknowledges_like_a_text_message_and_paging_stops(
        daemon: DaemonProcess, fake: FakeTwilio) -> None:
    daemon.start()
    assert 202 == daemon.post_ticket(ticket("SR-1", customer="slow")).status_code
    [page] = fake.wait_for_messages(1, timeout=10)
    code = page.body.split("#", 1)[1].split()[0]

    refused = daemon.cli("sms-reply", "erin", "99a")
    assert "No open page #99 for you" in refused.stdout, refused.stderr

    acked = daemon.cli("sms-reply", "erin", f"{code}a")
    assert 0 == acked.returncode, acked.stderr
    assert "acknowledged" in acked.stdout.lower()
    [incident] = wait_until("acknowledged", lambda: [i for i in daemon.incidents() if i["state"] == "acknowledged"])
    assert "erin" == incident["acknowledged_by"]
    audit = daemon.api(f"/api/incidents/{incident['id']}")["audit"]
    assert any(e["kind"] == "acknowledged" and e.get("via", e.get("channel")) == "sms" for e in audit), audit
