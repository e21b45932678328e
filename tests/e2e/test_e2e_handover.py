"""The morning hand-over end to end: the real daemon, the fake Twilio, a desk that opens a
minute from now. Tickets that did not page while it was closed reach the person on duty in
one SMS at the opening, most urgent first; one solved meanwhile drops out; a restart does not
send it again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_process import CONFIG, DaemonProcess, ticket, wait_until
from support import configs

from oncall.testing.fake_twilio import FakeTwilio

pytestmark = pytest.mark.e2e


def opening_soon() -> datetime:
    """The next whole UTC minute at least five seconds away."""
    soon = datetime.now(UTC) + timedelta(seconds=5)
    return soon.replace(second=0, microsecond=0) + timedelta(minutes=1)


@pytest.fixture
def opening() -> datetime:
    return opening_soon()


@pytest.fixture
def config_dir(tmp_path: Path, opening: datetime) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    closes = opening + timedelta(hours=2)
    (directory / "desk.yaml").write_text(f"""\
desks:
  - id: east
    name: East
    timezone: UTC
    hours:
      daily: "{opening:%H:%M}-{closes:%H:%M}"
    handover: {{schedule: emergency, digest: []}}
entitlement:
  channels: [direct]
customers:
  - {{id: fast, name: Fast Co, channel: direct}}
  - {{id: quiet, name: Quiet Co, channel: reseller}}
rules:
  - name: otherwise
    page: false
""")
    (directory / "oncall.yaml").write_text(configs.PEOPLE + CONFIG["oncall.yaml"].split(configs.PEOPLE, 1)[1])
    return directory


def test_the_waiting_tickets_reach_the_person_on_duty_once_at_the_opening(
        daemon: DaemonProcess, fake: FakeTwilio, opening: datetime) -> None:
    daemon.start(ONCALL_HANDOVER_CHECK_SECONDS="0.5")
    assert 202 == daemon.post_ticket(ticket("T-1", "fast", priority="normal")).status_code
    assert 202 == daemon.post_ticket(ticket("T-2", "quiet", priority="urgent")).status_code
    assert 202 == daemon.post_ticket(ticket("T-3", "fast", priority="low")).status_code
    wait_until("the tickets to be decided", lambda: daemon.unprocessed_events() == 0)
    assert 202 == daemon.post_ticket(ticket("T-3", "fast", priority="low", status="solved")).status_code
    wait_until("the solved ticket to be decided", lambda: daemon.unprocessed_events() == 0)
    assert [] == fake.messages, "nothing is sent before the opening"

    wait = (opening - datetime.now(UTC)).total_seconds() + 15
    [sms] = fake.wait_for_messages(1, timeout=wait)
    assert sms.body.startswith("oncall East hand-over: 2 tickets waited while closed: URGENT #T-2 Quiet Co"), sms.body
    assert "NORMAL #T-1 Fast Co" in sms.body and "#T-3" not in sms.body
    assert sms.to in configs.PHONES.values()

    assert 0 == daemon.stop()
    daemon.start(ONCALL_HANDOVER_CHECK_SECONDS="0.5")
    time.sleep(2)  # nothing to wait for: the duty runs at start and every 0.5 s, and must send nothing
    assert 1 == len(fake.messages)
