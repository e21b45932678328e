"""The morning hand-over: tickets that did not page while the desk was closed are handed to
the people on duty at the desk's next opening, once, most urgent first; closed ones drop out;
a rule's ``page: at_opening`` pages an untouched ticket at the opening."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from daemon_rig import NY, PEOPLE, MakeRig, Rig, write_config
from support import configs

from oncall.interfaces import Channel

DESK = configs.EAST_DESK.replace('      mon-fri: "08:00-16:00"\n', '      mon-fri: "08:00-16:00"\n'
                                 "    handover: {schedule: emergency}\n") + """\
customers:
  - id: acme
    name: Acme Hosting
    channel: direct
  - id: resold
    name: Resold Web
    channel: reseller
rules:
  - name: urgent-pages
    when: {priority: urgent, entitled: true, business_hours: false}
    page: true
    escalation_policy: emergency
  - name: high-waits
    when: {priority: high, business_hours: false}
    page: at_opening
    escalation_policy: emergency
  - name: business-hours
    page: false
response_targets:
  - name: urgent
    when: {priority: urgent}
    first_response: 2h
    clock: business
  - name: rest
    first_response: 1d
"""
GINA_EMAIL = PEOPLE.replace('    phone: "+12025550145"\n', '    phone: "+12025550145"\n    email: gina@example.com\n')
SATURDAY_NIGHT = datetime(2026, 11, 28, 3, 0, tzinfo=NY)
MONDAY_OPENING = datetime(2026, 11, 30, 8, 0, tzinfo=NY)


def night_rig(make_rig: MakeRig, tmp_path: Path, desk: str = DESK) -> Rig:
    return make_rig(SATURDAY_NIGHT, config=write_config(tmp_path / "config-handover", desk=desk, people=GINA_EMAIL))


def handovers(rig: Rig) -> list[str]:
    return [m.text for m in rig.transport.sent if m.key.startswith("handover-")]


def test_the_waiting_tickets_are_handed_over_once_at_the_opening_most_urgent_first(
        make_rig: MakeRig, tmp_path: Path) -> None:
    rig = night_rig(make_rig, tmp_path)
    rig.file("T-1", priority="normal")
    rig.file("T-2", priority="urgent", customer="resold")  # not entitled: does not page
    rig.work()
    rig.clock.set(MONDAY_OPENING - timedelta(minutes=1))
    assert 0 == rig.run("handover").done
    rig.clock.set(MONDAY_OPENING)
    assert 1 == rig.run("handover").done
    [sms] = rig.transport.sent
    assert (Channel.SMS, rig.on_call()) == (sms.channel, sms.person_id)
    assert sms.text.startswith("oncall east hand-over: 2 tickets waited while closed: URGENT #T-2 Resold Web "
                               "by Mon 10:00; NORMAL #T-1 Acme Hosting by Mon 16:00")
    assert 0 == rig.run("handover").done


def test_a_restart_does_not_repeat_the_hand_over(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = night_rig(make_rig, tmp_path)
    rig.file("T-1", priority="normal")
    rig.work()
    rig.clock.set(MONDAY_OPENING)
    rig.run("handover")
    again = night_rig(make_rig, tmp_path)  # the same database
    again.clock.set(MONDAY_OPENING + timedelta(minutes=1))
    assert (0, []) == (again.run("handover").done, handovers(again))


def test_a_ticket_solved_before_the_opening_drops_out(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = night_rig(make_rig, tmp_path)
    rig.file("T-1", priority="normal")
    rig.file("T-2", priority="low")
    rig.work()
    rig.clock.advance(timedelta(hours=5))
    rig.file("T-1", priority="normal", status="solved", created=SATURDAY_NIGHT, updated=rig.clock.now())
    rig.work()
    rig.clock.set(MONDAY_OPENING)
    rig.run("handover")
    [text] = handovers(rig)
    assert ("#T-2" in text, "#T-1" in text) == (True, False)


def test_page_at_opening_pages_an_untouched_ticket_and_not_a_touched_one(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = night_rig(make_rig, tmp_path)
    rig.file("T-3", priority="high")
    rig.file("T-4", priority="high")
    rig.work()
    assert [] == rig.daemon.service.list()  # nothing pages at night
    rig.clock.advance(timedelta(hours=1))
    rig.file("T-4", priority="high", status="pending", created=SATURDAY_NIGHT, updated=rig.clock.now())
    rig.work()
    rig.clock.set(MONDAY_OPENING)
    rig.run("handover")
    assert ["T-3"] == [i.ticket_id for i in rig.daemon.service.list()]
    [text] = handovers(rig)
    assert "PAGED" not in text.split("#T-4")[1]


def test_without_a_schedule_the_admins_get_the_sms_and_the_e_mail_digest(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = night_rig(make_rig, tmp_path, desk=DESK.replace("    handover: {schedule: emergency}\n", ""))
    rig.file("T-1", priority="normal")
    rig.work()
    rig.clock.set(MONDAY_OPENING)
    rig.run("handover")
    assert [("gina", Channel.SMS), ("gina", Channel.EMAIL)] == [(m.person_id, m.channel) for m in rig.transport.sent]
    digest = rig.transport.sent[1]
    assert "why not paged: desk closed; rule 'business-hours' does not page" in digest.text
    assert "respond by: Mon 2026-11-30 16:00 EST" in digest.text


def test_an_emergency_only_day_counts_as_closed(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = night_rig(make_rig, tmp_path, desk=DESK.replace(
        "    handover: {schedule: emergency}\n",
        "    handover: {schedule: emergency}\n    emergency_only: [{date: 2026-11-30, name: Freeze}]\n"))
    rig.file("T-1", priority="normal")
    rig.work()
    rig.clock.set(MONDAY_OPENING + timedelta(hours=2))
    assert 0 == rig.run("handover").done
    rig.clock.set(MONDAY_OPENING + timedelta(days=1))
    assert 1 == rig.run("handover").done


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eastern-emergency"
LONG_WEEKENDS = {
    "Friday evening before Labor Day: Tuesday 08:00": (datetime(2026, 9, 4, 18, 0, tzinfo=NY),
                                                       datetime(2026, 9, 8, 8, 0, tzinfo=NY)),
    "Wednesday evening before Thanksgiving: Friday 08:00": (datetime(2026, 11, 25, 18, 0, tzinfo=NY),
                                                            datetime(2026, 11, 27, 8, 0, tzinfo=NY)),
    "Christmas Eve: Monday 28 December 08:00": (datetime(2026, 12, 24, 18, 0, tzinfo=NY),
                                                datetime(2026, 12, 28, 8, 0, tzinfo=NY)),
}


@pytest.mark.parametrize(("filed", "handed_over"), LONG_WEEKENDS.values(), ids=LONG_WEEKENDS.keys())
def test_eastern_emergency_hands_over_after_a_long_weekend(make_rig: MakeRig, tmp_path: Path, filed: datetime,
                                                            handed_over: datetime) -> None:
    config = tmp_path / "eastern-emergency"
    shutil.copytree(EXAMPLE, config)
    rig = make_rig(filed, config=config)
    rig.file("T-1", priority="normal")
    rig.work()
    rig.clock.set(handed_over - timedelta(seconds=1))
    assert 0 == rig.run("handover").done
    rig.clock.set(handed_over)
    assert 1 == rig.run("handover").done
    assert ["gina"] == [m.person_id for m in rig.transport.sent]  # the example's admin: no hand-over schedule
