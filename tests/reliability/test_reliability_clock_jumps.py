"""The wall clock stepping forward two hours and back one (NTP correction, a VM
resumed): the runner and service on an injected clock fire every step once — never
twice, none skipped — and a step that fell due during the jump fires once, not once
per missed minute."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.harness import Paging
from support.reliab_ledger import check_sends, check_steps, read_ledger

from oncall.escalation.runner import next_wakeup
from oncall.incidents.model import TicketSummary
from oncall.store.db import make_engine, upgrade
from oncall.testing.clock import FakeClock

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Europe's spring-forward night, for good measure
MINUTE = timedelta(minutes=1)


def _ticket(n: int) -> TicketSummary:
    return TicketSummary(source="clock", ticket_id=f"CLK-{n}", priority="urgent",
                         customer="acme", subject=f"Outage {n}")


class Timeline:
    """Drives the runner as the daemon would: run_due at each tick of a wall clock."""

    def __init__(self, tmp_path: Path) -> None:
        self.engine = make_engine(f"sqlite:///{tmp_path / 'clock.db'}")
        upgrade(self.engine)
        self.paging = Paging(self.engine)
        self.clock = FakeClock(T0)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def tick(self, minutes: int = 1) -> None:
        for _ in range(minutes):
            self.clock.advance(MINUTE)
            self.run()

    def run(self) -> None:
        self.paging.runner.run_due(self.now)

    @property
    def handed_over(self) -> int:
        return len(self.paging.transport.sent)

    def page_tuples(self) -> Counter[tuple[int, int, int, str, str]]:
        ledger = read_ledger(self.engine)
        return Counter((r.incident_id, r.round, r.step, r.person_id, r.channel)
                       for r in ledger.rows if r.status == "sent" and r.resend_of is None)


@pytest.fixture
def timeline(tmp_path: Path) -> Iterator[Timeline]:
    line = Timeline(tmp_path)
    yield line
    line.engine.dispose()


def test_jump_forward_then_back_fires_each_step_once(timeline: Timeline) -> None:
    svc = timeline.paging.service
    svc.open_or_update(_ticket(1), "primary", timeline.now)
    timeline.run()
    timeline.tick(5)
    svc.open_or_update(_ticket(2), "primary", timeline.now)
    timeline.run()
    timeline.tick(4)  # both incidents are on step 0, waiting out its 15 minutes

    with timeline.engine.connect() as conn:
        due_before_jump = next_wakeup(conn)
    assert due_before_jump is not None and due_before_jump > timeline.now

    timeline.clock.advance(timedelta(hours=2))  # the clock steps forward
    before_jump = timeline.handed_over
    timeline.run()
    at_jump = timeline.handed_over - before_jump
    for _ in range(3):  # several wake-ups at the same instant change nothing more
        timeline.run()
    after_jump = timeline.page_tuples()
    timeline.tick(20)  # the next step is due in 5 minutes when the clock goes back

    timeline.clock.advance(-timedelta(hours=1))  # and back
    before_back = timeline.page_tuples()
    handed_before_back = timeline.handed_over
    timeline.run()
    timeline.tick(59)
    assert handed_before_back == timeline.handed_over, "something was sent again after going back"
    assert before_back == timeline.page_tuples(), "a step fired again after the clock went back"
    timeline.tick(120)

    final = timeline.page_tuples()
    ledger = read_ledger(timeline.engine)
    sent = Counter(m.key for m in timeline.paging.transport.sent)
    assert [] == check_steps(ledger) + check_sends(ledger, sent)
    assert all(n == 1 for n in final.values()), f"paged twice: {final}"
    # The steps that fell due during the jump fired at the jump, once each.
    assert at_jump >= 1
    assert {(1, 0, 1), (2, 0, 1)} <= {(i, r, s) for i, r, s, _p, _c in after_jump}
    # Every step of the policy was paged for both incidents in the end: none skipped.
    steps = {(i, r, s) for i, r, s, _p, _c in final}
    assert {(i, 0, s) for i in (1, 2) for s in (0, 1)} <= steps
