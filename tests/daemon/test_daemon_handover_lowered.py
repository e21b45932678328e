"""A ticket whose page was called off at night because its priority was lowered is not
forgotten: nobody is paged for it any more, so it joins the desk's morning hand-over with that
reason — unless it was solved or closed meanwhile, or somebody had acknowledged it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from daemon_rig import NY, PEOPLE, MakeRig, Rig, write_config

from oncall.interfaces import Channel

MONDAY_OPENING = datetime(2026, 11, 30, 8, 0, tzinfo=NY)
GINA_EMAIL = PEOPLE.replace('    phone: "+12025550145"\n', '    phone: "+12025550145"\n    email: gina@example.com\n')


@pytest.fixture
def rig(make_rig: MakeRig, tmp_path: Path) -> Rig:
    """The admin gina (no hand-over schedule) reads the hand-over: an SMS and the e-mail digest."""
    assert GINA_EMAIL != PEOPLE
    return make_rig(config=write_config(tmp_path / "config-lowered", people=GINA_EMAIL))


def paged_then_lowered(rig: Rig, *, ack: bool = False) -> None:
    created = rig.clock.now()
    rig.file("T-1", priority="urgent")
    rig.work()
    [inc] = rig.daemon.service.list()
    if ack:
        rig.daemon.service.ack(inc.id, rig.on_call(), rig.clock.now(), "sms")
    rig.clock.advance(timedelta(minutes=10))
    rig.file("T-1", priority="normal", created=created, updated=rig.clock.now())
    rig.work()


def digests(rig: Rig) -> list[str]:
    return [m.text for m in rig.transport.sent if m.key.startswith("handover-") and m.channel is Channel.EMAIL]


def test_a_ticket_lowered_after_paging_while_the_desk_is_closed_joins_the_hand_over(rig: Rig) -> None:
    paged_then_lowered(rig)
    assert "cancelled" == rig.daemon.service.list()[0].state.value
    rig.clock.set(MONDAY_OPENING)
    assert rig.run("handover").done >= 1
    [digest] = digests(rig)
    assert "NORMAL generic #T-1" in digest
    assert "why not paged: priority lowered to normal after paging; desk closed; rule 'business-hours' " \
           "does not page" in digest
    [sms] = [m for m in rig.transport.sent if m.key.startswith("handover-") and m.channel is Channel.SMS]
    assert "NORMAL #T-1 Acme Hosting" in sms.text


def test_a_lowered_ticket_solved_before_the_opening_is_not_handed_over(rig: Rig) -> None:
    paged_then_lowered(rig)
    rig.clock.advance(timedelta(hours=1))
    rig.file("T-1", priority="normal", status="solved", updated=rig.clock.now())
    rig.work()
    rig.clock.set(MONDAY_OPENING)
    assert (0, []) == (rig.run("handover").done, digests(rig))


def test_a_lowered_ticket_somebody_acknowledged_stays_theirs_and_is_not_handed_over(rig: Rig) -> None:
    paged_then_lowered(rig, ack=True)
    assert "acknowledged" == rig.daemon.service.list()[0].state.value
    rig.clock.set(MONDAY_OPENING)
    assert (0, []) == (rig.run("handover").done, digests(rig))
