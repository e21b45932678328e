"""A policy's acknowledgement timeout end to end: the real daemon, the fake Twilio, a policy
whose acknowledgement lasts 3 s and whose steps wait ten minutes (so any page within the test
is the timeout's). An acknowledgement by signed SMS reply that runs out triggers the incident
again and pages the acknowledger, audited; a ticket solved in the helpdesk first stops it."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from e2e_process import DaemonProcess, ticket, wait_until, write_config_with_fast_policy

from oncall.testing.fake_twilio import FakeTwilio, SentMessage
from oncall.testing.twilio_doubles import FROM_NUMBER

pytestmark = pytest.mark.e2e

TIMEOUT_SECONDS = 3.0
FAST = f"""\
    steps:
      - {{targets: [{{schedule: emergency}}], contact: sms, delay: 10m}}
      - {{targets: [{{person: gina}}], contact: sms, delay: 10m}}
    repeat: 1
    ack_timeout: {TIMEOUT_SECONDS:g}s
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return write_config_with_fast_policy(tmp_path / "config", FAST)


def acknowledge(daemon: DaemonProcess, fake: FakeTwilio, sms: SentMessage) -> None:
    """Reply to ``sms`` as its recipient would, with the page's own acknowledgement code."""
    code = re.search(r"Reply (\d+)a ack", sms.body)
    assert code is not None, sms.body
    reply = fake.send_sms_reply(daemon.url, from_=sms.to, to=FROM_NUMBER, body=f"{code.group(1)}a")
    assert 200 == reply.status_code and "acknowledged by" in reply.text, reply.text


def audit(daemon: DaemonProcess, incident_id: int) -> list[dict[str, Any]]:
    shown = daemon.cli("incidents", "show", str(incident_id), "--json")
    assert 0 == shown.returncode, shown.stderr
    entries: list[dict[str, Any]] = json.loads(shown.stdout)["audit"]
    return entries


def test_an_acknowledgement_that_runs_out_pages_the_acknowledger_again(
        daemon: DaemonProcess, fake: FakeTwilio) -> None:
    daemon.start()
    assert 202 == daemon.post_ticket(ticket("T-1", "fast")).status_code
    [page] = fake.wait_for_messages(1, timeout=10)
    before_ack = time.monotonic()
    acknowledge(daemon, fake, page)
    [inc] = daemon.incidents()
    assert "acknowledged" == inc["state"]

    [_, again] = fake.wait_for_messages(2, timeout=TIMEOUT_SECONDS + 10)
    assert time.monotonic() - before_ack >= TIMEOUT_SECONDS, "paged again before the timeout ran out"
    assert page.to == again.to and "T-1" in again.body
    shown = daemon.api(f"/api/incidents/{inc['id']}")
    assert "triggered" == shown["state"]

    entries = audit(daemon, inc["id"])
    acked = next(e for e in entries if e["kind"] == "acknowledged")
    assert "ack timeout 3s: triggered again at" in acked["reason"], acked
    [timed_out] = [e for e in entries if e["kind"] == "ack_timeout"]
    assert "oncall" == timed_out["actor"]
    assert f"triggered again, paging {acked['actor']} first" in timed_out["reason"], timed_out
    # Triggered again, the incident has no acknowledger (`oncall incidents` would say
    # "triggered by erin", the console "Acknowledged by Erin").
    assert None is shown["acknowledged_by"], "a triggered incident still names its former acknowledger"
    assert 0 == daemon.stop()


def test_a_ticket_solved_before_the_timeout_stops_it(daemon: DaemonProcess, fake: FakeTwilio) -> None:
    daemon.start()
    created = datetime.now(UTC).isoformat()
    assert 202 == daemon.post_ticket(ticket("T-2", "fast", created_at=created)).status_code
    [page] = fake.wait_for_messages(1, timeout=10)
    acknowledge(daemon, fake, page)
    acked_at = time.monotonic()
    [inc] = daemon.incidents()
    assert "acknowledged" == inc["state"]
    assert 202 == daemon.post_ticket(ticket("T-2", "fast", created_at=created, status="solved")).status_code
    wait_until("the solved ticket to resolve the incident",
               lambda: daemon.api(f"/api/incidents/{inc['id']}")["state"] == "resolved")
    assert ("resolved", "ticket") == next((e["kind"], e["actor"]) for e in reversed(audit(daemon, inc["id"]))
                                          if e["kind"] == "resolved")

    # Let the acknowledgement's timeout fall due, then prove the worker ran after it: file a
    # ticket that does not page and wait for its outcome to be counted.
    wait_until("the timeout to pass", lambda: time.monotonic() - acked_at > TIMEOUT_SECONDS + 0.5,
               timeout=TIMEOUT_SECONDS + 5)
    daemon.post_ticket(ticket("T-3", "quiet"))
    wait_until("the quiet ticket to be processed",
               lambda: daemon.metric('oncall_tickets_received_total{outcome="no_page",source="generic"}') >= 1)
    assert [page.sid] == [m.sid for m in fake.messages]
    assert [] == [e for e in audit(daemon, inc["id"]) if e["kind"] == "ack_timeout"]
    assert "resolved" == daemon.api(f"/api/incidents/{inc['id']}")["state"]
    assert 0 == daemon.stop()
