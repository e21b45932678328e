"""Restriction days speak the desk hours' day vocabulary, and a bad one is one error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from oncall.config.loader import check
from oncall.schedules import Restriction

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=LA)
DAY_HINT = "(use mon tue wed thu fri sat sun, a range such as 'mon-fri', 'weekdays', 'weekends' or 'daily')"


@pytest.mark.parametrize(("written", "days"), [
    pytest.param("mon-fri", ("mon", "tue", "wed", "thu", "fri"), id="range"),
    pytest.param("sat-sun", ("sat", "sun"), id="weekend-range"),
    pytest.param("fri-mon", ("mon", "fri", "sat", "sun"), id="range-over-the-weekend"),
    pytest.param("weekdays", ("mon", "tue", "wed", "thu", "fri"), id="weekdays"),
    pytest.param("weekends", ("sat", "sun"), id="weekends"),
    pytest.param("daily", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), id="daily"),
    pytest.param("Monday", ("mon",), id="full-name"),
    pytest.param(["sun", "mon", "wed-fri"], ("mon", "wed", "thu", "fri", "sun"), id="list-with-range"),
    pytest.param(["mon-wed", "tue"], ("mon", "tue", "wed"), id="overlapping-names-once-each"),
])
def test_days_are_read_like_desk_hours(written: object, days: tuple[str, ...]) -> None:
    restriction = Restriction.model_validate({"days": written, "from": "17:00", "to": "08:00"})
    assert days == restriction.days


CONFIG = """\
desks:
  - id: pacific
    timezone: America/Los_Angeles
    hours: {mon-fri: "07:00-17:00"}
rules:
  - {name: everything, page: true, escalation_policy: after-hours}
people:
  - {id: alice, name: Alice, timezone: America/Los_Angeles, phone: "+14155550101"}
  - {id: bob, name: Bob, timezone: America/Los_Angeles, phone: "+14155550102"}
schedules:
  - id: primary
    timezone: America/Los_Angeles
    layers:
      - {name: base, participants: [alice], shift: 1w, start_date: "2026-01-05"}
      - name: evenings
        participants: [bob]
        shift: 1w
        start_date: "2026-01-05"
        restrictions:
          - {RESTRICTION}
escalation_policies:
  - id: after-hours
    steps: [{targets: [{schedule: primary}]}]
notifications:
  admins: [alice]
"""
RESTRICTION_LINE = CONFIG.splitlines().index("          - {RESTRICTION}") + 1


@dataclass(frozen=True)
class BadDays:
    restriction: str
    message: str


BAD_DAYS = [
    pytest.param(BadDays('days: funday, from: "17:00", to: "08:00"',
                         f"schedules[primary].layers.1.restrictions.0.days: unknown day 'funday' {DAY_HINT}"),
                 id="unknown-day"),
    pytest.param(BadDays('days: [mon, blursday, tue], from: "17:00", to: "08:00"',
                         f"schedules[primary].layers.1.restrictions.0.days: unknown day 'blursday' {DAY_HINT}"),
                 id="unknown-day-in-a-list"),
    pytest.param(BadDays('days: mon-fry, from: "17:00", to: "08:00"',
                         f"schedules[primary].layers.1.restrictions.0.days: unknown day 'mon-fry' {DAY_HINT}"),
                 id="bad-range"),
    pytest.param(BadDays('days: monkey, from: "17:00", to: "08:00"',
                         f"schedules[primary].layers.1.restrictions.0.days: unknown day 'monkey' {DAY_HINT}"),
                 id="word-starting-like-a-day"),
    pytest.param(BadDays('days: [], from: "17:00", to: "08:00"',
                         "schedule 'primary' layer 'evenings': restriction lists no days and can never match"),
                 id="no-days"),
    pytest.param(BadDays('days: mon-fri, from: "25:00", to: "08:00"',
                         "schedules[primary].layers.1.restrictions.0.from: not a time of day: '25:00'"),
                 id="bad-time-beside-good-days"),
]


@pytest.mark.parametrize("case", BAD_DAYS)
def test_a_bad_restriction_is_exactly_one_error_with_file_and_line(tmp_path: Path, case: BadDays) -> None:
    """No follow-on error: not "layers: at least 1 item", not "lists no days" as well."""
    path = tmp_path / "oncall.yaml"
    path.write_text(CONFIG.replace("{RESTRICTION}", "{" + case.restriction + "}"))
    _snapshot, issues = check(tmp_path, now=NOW, horizon=timedelta(days=7))
    assert [f"{path}:{RESTRICTION_LINE}: error: {case.message}"] == [str(i) for i in issues]


def test_good_restriction_days_load(tmp_path: Path) -> None:
    (tmp_path / "oncall.yaml").write_text(
        CONFIG.replace("{RESTRICTION}", '{days: [mon-fri, sat-sun], from: "17:00", to: "08:00"}'))
    snapshot, issues = check(tmp_path, now=NOW, horizon=timedelta(days=7))
    assert [] == issues
    assert snapshot is not None
    assert ("bob",) == snapshot.on_call("primary", datetime(2026, 11, 28, 20, 0, tzinfo=LA))  # a Saturday
