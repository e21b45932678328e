"""The hand-over and response-clocks duties write and send only under their lease: an instance
whose lease another has taken since (woken from a freeze, or a daemon restarted on the same
SQLite file) writes nothing and sends nothing, and the lease's new holder does the work once."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from daemon_rig import NY, SATURDAY_NIGHT, MakeRig, Rig
from sqlalchemy import select

from oncall.daemon.duties.response_clocks import CURSOR
from oncall.errors import LeaseLost
from oncall.store.inbox import get_cursor
from oncall.store.tables import response_clocks, waiting_tickets

MONDAY_OPENING = datetime(2026, 11, 30, 8, 0, tzinfo=NY)
TUESDAY = datetime(2026, 11, 24, 9, 0, tzinfo=NY)
CLOCKS = """\
response_targets:
  - name: urgent
    when: {priority: urgent}
    first_response: 2h
    clock: business
"""


def two_instances(make_rig: MakeRig, start: datetime, duty: str, config: Path | None = None) -> tuple[Rig, Rig]:
    """``a`` held ``duty``'s lease (token 1); then ``b`` took it (token 2), as after a takeover."""
    a = make_rig(start, config=config)
    assert a.daemon.keeper.ensure(duty)
    b = make_rig(start, config=config)
    assert b.daemon.keeper.ensure(duty)
    assert [(duty, 2)] == [(v.name, v.token) for v in b.daemon.keeper.view() if v.name == duty]
    return a, b


def test_a_hand_over_under_a_lease_taken_since_marks_nothing_and_sends_nothing(make_rig: MakeRig) -> None:
    first = make_rig(SATURDAY_NIGHT)
    first.file("T-1", priority="normal")  # does not page at night: waits for the opening
    first.work()
    a, b = two_instances(make_rig, SATURDAY_NIGHT, "handover")
    a.clock.set(MONDAY_OPENING)
    with pytest.raises(LeaseLost):
        a.run("handover")
    assert [] == a.transport.sent
    with a.daemon.engine.connect() as conn:
        assert [None] == conn.execute(select(waiting_tickets.c.handed_over_at)).scalars().all()
    b.clock.set(MONDAY_OPENING)
    assert 1 == b.run("handover").done
    assert ["gina"] == [m.person_id for m in b.transport.sent]


def test_response_clocks_under_a_lease_taken_since_record_nothing_and_warn_nobody(
        make_rig: MakeRig, tmp_path: Path) -> None:
    from daemon_rig import DESK, PEOPLE, write_config

    config = write_config(tmp_path / "config-fenced-clocks", desk=DESK + CLOCKS, people=PEOPLE)
    first = make_rig(TUESDAY, config=config)
    first.file("T-1", priority="urgent")  # the desk is open: no page, a first-response clock
    first.work()
    a, b = two_instances(make_rig, TUESDAY, "response-clocks", config)
    a.clock.set(TUESDAY + timedelta(minutes=100))  # past the warning at 75 % of 2 h
    with pytest.raises(LeaseLost):
        a.run("response-clocks")
    assert [] == a.transport.sent
    assert get_cursor(a.daemon.engine, CURSOR) is None
    with a.daemon.engine.connect() as conn:
        assert [] == conn.execute(select(response_clocks.c.warned_at)).scalars().all()
    b.clock.set(TUESDAY + timedelta(minutes=100))
    b.run("response-clocks")
    [warning] = b.transport.sent
    assert "has no first response yet" in warning.text
