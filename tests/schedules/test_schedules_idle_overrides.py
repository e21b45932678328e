"""Overrides that change nobody on call are found: `oncall check` warns with file:line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from oncall.config.loader import check
from oncall.findings import Finding
from oncall.schedules import Override, Person, Schedule, check_schedules

LA = ZoneInfo("America/Los_Angeles")
# Wednesday. Alice has the week from Mon 23 Nov 09:00, Bob the next, Alice the one after.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=LA)
PEOPLE = tuple(Person(id=p, name=p.title(), timezone=LA, phone="+14155550101") for p in ("alice", "bob"))
PRIMARY = Schedule.model_validate({"id": "primary", "timezone": "America/Los_Angeles", "layers": [
    {"participants": ["alice", "bob"], "shift": "1w", "handoff_time": "09:00", "start_date": "2026-01-05"}]})


def override(ident: str, start: str, end: str, *, who: str, replaces: str | None = None) -> Override:
    return Override(id=ident, schedule="primary", person=who, replaces=replaces,
                    start=datetime.fromisoformat(start).replace(tzinfo=LA),
                    end=datetime.fromisoformat(end).replace(tzinfo=LA))


@dataclass(frozen=True)
class Case:
    overrides: tuple[Override, ...]
    expected: list[Finding]


CASES = [
    pytest.param(Case((override("o1", "2026-11-26T00:00", "2026-11-27T00:00", who="alice", replaces="bob"),), [
        Finding(path=("overrides", 0), severity="warning", message=(
            "override 'o1' changes nothing: 'bob' is not on call for 'primary' at any time from "
            "Thu 2026-11-26 00:00 to Fri 2026-11-27 00:00 (America/Los_Angeles)"))]),
        id="replaces-someone-off-that-week"),
    pytest.param(Case((override("o1", "2026-11-26T00:00", "2026-11-27T00:00", who="alice"),), [
        Finding(path=("overrides", 0), severity="warning", message=(
            "override 'o1' changes nothing: 'alice' is already on call for 'primary' all the time "
            "from Thu 2026-11-26 00:00 to Fri 2026-11-27 00:00 (America/Los_Angeles)"))]),
        id="whole-schedule-for-whoever-is-on-call"),
    pytest.param(Case((override("o1", "2026-11-26T00:00", "2026-11-27T00:00", who="alice", replaces="alice"),), [
        Finding(path=("overrides", 0), severity="warning", message=(
            "override 'o1' changes nothing: 'alice' would replace themselves "
            "from Thu 2026-11-26 00:00 to Fri 2026-11-27 00:00 (America/Los_Angeles)"))]),
        id="replaces-themselves"),
    pytest.param(Case((override("o1", "2026-11-26T00:00", "2026-11-27T00:00", who="bob"),
                       override("o2", "2026-11-26T00:00", "2026-11-27T00:00", who="bob", replaces="alice")), [
        Finding(path=("overrides", 1), severity="warning", message=(
            "override 'o2' changes nothing: 'alice' is not on call for 'primary' at any time "
            "from Thu 2026-11-26 00:00 to Fri 2026-11-27 00:00 (America/Los_Angeles)"))]),
        id="replaced-person-already-covered-by-a-whole-schedule-override"),
    pytest.param(Case((override("o1", "2026-11-29T00:00", "2026-12-01T00:00", who="bob", replaces="alice"),), []),
        id="partly-in-the-replaced-persons-week-changes-something"),
    pytest.param(Case((override("o1", "2026-11-26T00:00", "2026-11-27T00:00", who="bob", replaces="alice"),), []),
        id="replaces-whoever-is-on-call"),
    pytest.param(Case((override("o1", "2026-11-02T00:00", "2026-11-03T00:00", who="alice", replaces="bob"),), []),
        id="already-over-is-not-reported"),
    pytest.param(Case((override("o1", "2026-11-26T00:00", "2026-11-27T00:00", who="bob", replaces="alice"),
                       override("o2", "2026-11-26T00:00", "2026-11-27T00:00", who="bob", replaces="alice")), [
        Finding(path=("overrides", 1), message=(
            "override 'o2' overlaps 'o1' for 'alice''s slot on schedule 'primary'; remove or shorten one"))]),
        id="an-overlap-is-one-error-not-also-two-idle-warnings"),
]


@pytest.mark.parametrize("case", CASES)
def test_overrides_that_change_nothing_are_warnings(case: Case) -> None:
    found = check_schedules(PEOPLE, (PRIMARY,), case.overrides, now=NOW)
    assert case.expected == found


CONFIG = """\
desks:
  - {id: pacific, timezone: America/Los_Angeles, hours: {mon-fri: "07:00-17:00"}}
rules:
  - {name: everything, page: true, escalation_policy: after-hours}
people:
  - {id: alice, name: Alice, timezone: America/Los_Angeles, phone: "+14155550101"}
  - {id: bob, name: Bob, timezone: America/Los_Angeles, phone: "+14155550102"}
schedules:
  - id: primary
    timezone: America/Los_Angeles
    layers: [{participants: [alice, bob], shift: 1w, start_date: "2026-01-05"}]
escalation_policies:
  - {id: after-hours, steps: [{targets: [{schedule: primary}]}]}
notifications: {admins: [alice]}
"""
OVERRIDES = """\
overrides:
  - {id: swap, schedule: primary, person: alice, replaces: bob,
     start: "2026-12-01T09:00:00-08:00", end: "2026-12-02T09:00:00-08:00"}
  - {id: idle, schedule: primary, person: alice, replaces: bob,
     start: "2026-11-26T09:00:00-08:00", end: "2026-11-27T09:00:00-08:00"}
"""


def test_check_warns_with_file_and_line_and_still_loads(tmp_path: Path) -> None:
    (tmp_path / "oncall.yaml").write_text(CONFIG)
    (tmp_path / "overrides.yaml").write_text(OVERRIDES)
    snapshot, issues = check(tmp_path, now=NOW, horizon=timedelta(days=7))
    assert snapshot is not None
    assert [f"{tmp_path / 'overrides.yaml'}:4: warning: override 'idle' changes nothing: 'bob' is not on call "
            "for 'primary' at any time from Thu 2026-11-26 09:00 to Fri 2026-11-27 09:00 (America/Los_Angeles)"
            ] == [str(i) for i in issues]
