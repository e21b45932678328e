"""A person's own notification rules end to end: the real daemon, the fake Twilio. Erin asks for
a text at once, a call after 4 s and another after 8 s; the policy's first step pages her by her
own rules, and its second step, 2 s later, pages Frank (a text: he has no rules) and Erin again.
The second step neither cuts Erin's chain short nor starts it over (no second text, her call
still comes at 4 s), and after her acknowledgement nothing more goes out."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from e2e_process import PHONES, DaemonProcess, ticket, wait_until, write_config_with_fast_policy
from support import configs

from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import FROM_NUMBER

pytestmark = pytest.mark.e2e

STEP_DELAY = 2.0
CALL_AFTER = 4.0
SECOND_CALL_AFTER = 8.0
ERIN_RULES = (f"    notify: [{{via: sms, after: 0s}}, {{via: voice, after: {CALL_AFTER:g}s}}, "
              f"{{via: voice, after: {SECOND_CALL_AFTER:g}s}}]\n")
FAST = f"""\
    steps:
      - {{targets: [{{person: erin}}], contact: own, delay: {STEP_DELAY:g}s}}
      - {{targets: [{{person: frank}}, {{person: erin}}], contact: own, delay: 10m}}
    repeat: 0
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    people = configs.PEOPLE.replace("  - id: erin\n", "  - id: erin\n" + ERIN_RULES)
    assert ERIN_RULES in people
    return write_config_with_fast_policy(tmp_path / "config", FAST, people)


def test_own_rules_text_then_call_a_later_step_keeps_the_chain_and_an_ack_stops_it(
        daemon: DaemonProcess, fake: FakeTwilio) -> None:
    daemon.start()
    filed = time.monotonic()
    assert 202 == daemon.post_ticket(ticket("T-1", "fast")).status_code

    [first] = fake.wait_for_messages(1, timeout=10)
    assert (PHONES["erin"], []) == (first.to, fake.calls), "a text first, no call yet"
    [_, to_frank] = fake.wait_for_messages(2, timeout=STEP_DELAY + 10)
    assert PHONES["frank"] == to_frank.to and "T-1" in to_frank.body
    assert time.monotonic() - filed >= STEP_DELAY

    [call] = fake.wait_for_calls(1, timeout=CALL_AFTER + 10)
    assert PHONES["erin"] == call.to, "the second step did not cut erin's chain short"
    assert time.monotonic() - filed >= CALL_AFTER
    assert [PHONES["erin"], PHONES["frank"]] == [m.to for m in fake.messages], "erin's chain started over"

    code = re.search(r"Reply (\d+)a ack", first.body)
    assert code is not None, first.body
    reply = fake.send_sms_reply(daemon.url, from_=PHONES["erin"], to=FROM_NUMBER, body=f"{code.group(1)}a")
    assert 200 == reply.status_code and "acknowledged by erin" in reply.text, reply.text
    [inc] = daemon.incidents()
    assert ("acknowledged", "erin") == (inc["state"], inc["acknowledged_by"])

    # Let erin's second call fall due, then prove the worker ran after it: file a ticket that
    # does not page and wait for its outcome to be counted. No call, no text may follow.
    wait_until("erin's second call to fall due", lambda: time.monotonic() - filed > SECOND_CALL_AFTER + 0.5,
               timeout=SECOND_CALL_AFTER + 5)
    daemon.post_ticket(ticket("T-2", "quiet"))
    wait_until("the quiet ticket to be processed",
               lambda: daemon.metric('oncall_tickets_received_total{outcome="no_page",source="generic"}') >= 1)
    assert ([call.sid], 2) == ([c.sid for c in fake.calls], len(fake.messages))
    assert "acknowledged" == daemon.api(f"/api/incidents/{inc['id']}")["state"]
    assert 0 == daemon.stop()
