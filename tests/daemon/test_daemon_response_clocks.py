"""The response-clocks duty on the rig's fake clock: a warning at the target's share to the
people on duty (once), a miss recorded and counted, an answered ticket left alone, the next
response counted from the customer's message, and after hours only where the target says so."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from daemon_rig import NY, PEOPLE, MakeRig, Rig, write_config
from support import configs
from typer.testing import CliRunner

from oncall.interfaces import Channel

DESK = configs.EAST_DESK.replace('      mon-fri: "08:00-16:00"\n', '      mon-fri: "08:00-16:00"\n'
                                 "    handover: {schedule: emergency}\n") + """\
customers:
  - {id: acme, name: Acme Hosting, channel: direct}
rules:
  - {name: never, page: false}
response_targets:
  - name: urgent
    when: {priority: urgent}
    first_response: 2h
    next_response: 4h
    clock: business
  - name: low
    when: {priority: low}
    first_response: 4h
    clock: calendar
    warn_after_hours: emergency
"""
TUESDAY = datetime(2026, 11, 24, 9, 0, tzinfo=NY)


def make(make_rig: MakeRig, tmp_path: Path, start: datetime = TUESDAY) -> Rig:
    return make_rig(start, config=write_config(tmp_path / "config-clocks", desk=DESK, people=PEOPLE))


def file(rig: Rig, status: str = "new", priority: str = "urgent", **fields: datetime) -> None:
    from oncall.sources.store_adapters import InboxSink
    from oncall.tickets import parse_ticket

    now = rig.clock.now()
    data: dict[str, Any] = {"id": "T-1", "source": "generic", "subject": "Mail down", "priority": priority,
                            "status": status, "customer": "acme", "created_at": rig.created.isoformat(),
                            "updated_at": now.isoformat(), **{k: v.isoformat() for k, v in fields.items()}}
    InboxSink(rig.daemon.inbox).accept("generic", f"T-1:{now.isoformat()}:{status}", parse_ticket(data), now)
    rig.work()


def at(rig: Rig, instant: datetime) -> int:
    rig.clock.set(instant)
    return rig.run("response-clocks").done


def warnings(rig: Rig) -> list[str]:
    return [m.text for m in rig.transport.sent if m.key.startswith("response-")]


def counted(rig: Rig, name: str) -> float:
    value = rig.daemon.metrics.registry.get_sample_value(name, {"desk": "east", "priority": "urgent"})
    return value or 0.0


def started(rig: Rig) -> Rig:
    rig.created = rig.clock.now()  # type: ignore[attr-defined]
    return rig


def test_a_ticket_without_a_response_warns_the_people_on_duty_at_75_percent_once(
        make_rig: MakeRig, tmp_path: Path) -> None:
    rig = started(make(make_rig, tmp_path))
    file(rig)
    at(rig, TUESDAY + timedelta(minutes=89))
    assert [] == warnings(rig)
    at(rig, TUESDAY + timedelta(minutes=90))
    [text] = warnings(rig)
    assert text.startswith("oncall: URGENT ticket generic #T-1 (Acme Hosting) has no first response yet: due Tue")
    assert [(rig.on_call(), Channel.SMS)] == [(m.person_id, m.channel) for m in rig.transport.sent]
    at(rig, TUESDAY + timedelta(minutes=100))
    assert (1, 1.0) == (len(warnings(rig)), counted(rig, "oncall_response_warnings_total"))


def test_a_missed_target_is_recorded_and_counted(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = started(make(make_rig, tmp_path))
    file(rig)
    at(rig, TUESDAY + timedelta(hours=2))
    at(rig, TUESDAY + timedelta(hours=3))
    assert 1.0 == counted(rig, "oncall_response_misses_total")


def test_an_answered_ticket_is_not_warned_about(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = started(make(make_rig, tmp_path))
    file(rig)
    rig.clock.set(TUESDAY + timedelta(minutes=30))
    file(rig, "open")  # left new
    at(rig, TUESDAY + timedelta(hours=3))
    assert ([], 0.0) == (warnings(rig), counted(rig, "oncall_response_misses_total"))


def test_the_next_response_counts_from_the_customers_message(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = started(make(make_rig, tmp_path))
    file(rig)
    rig.clock.set(TUESDAY + timedelta(minutes=30))
    file(rig, "open", agent_replied_at=rig.clock.now())
    rig.clock.set(TUESDAY + timedelta(hours=2))
    file(rig, "open", agent_replied_at=TUESDAY + timedelta(minutes=30), customer_replied_at=rig.clock.now())
    at(rig, TUESDAY + timedelta(hours=4, minutes=59))  # 11:00 + 75 % of 4 business hours = 14:00
    assert [] == warnings(rig)
    at(rig, TUESDAY + timedelta(hours=5))
    [text] = warnings(rig)
    assert "has no next response yet: due Tue 15:00 EST" in text


def test_after_hours_only_a_target_with_warn_after_hours_warns(make_rig: MakeRig, tmp_path: Path) -> None:
    night = datetime(2026, 11, 24, 20, 0, tzinfo=NY)
    rig = started(make(make_rig, tmp_path, night))
    file(rig)  # urgent, business clock: its warning falls due only on Wednesday morning
    at(rig, night + timedelta(hours=2))
    assert [] == rig.transport.sent
    rig.clock.set(night + timedelta(minutes=1))
    file(rig, priority="low")  # lowered: calendar 4h from its creation, warn_after_hours
    at(rig, night + timedelta(hours=3))
    assert [rig.on_call()] == [m.person_id for m in rig.transport.sent]


def test_oncall_tickets_at_risk_lists_them(make_rig: MakeRig, tmp_path: Path) -> None:
    from oncall.cli import app

    rig = started(make(make_rig, tmp_path))
    file(rig)
    at(rig, TUESDAY + timedelta(minutes=95))
    env = {"ONCALL_CONFIG": str(rig.config), "ONCALL_DATABASE_URL": str(rig.daemon.engine.url)}
    result = CliRunner().invoke(app, ["tickets", "--at-risk", "--json"], env=env)
    assert 0 == result.exit_code, result.output
    assert '"ticket_id": "T-1"' in result.output and '"at_risk": true' in result.output
