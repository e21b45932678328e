"""check_schedules: every error kind, with paths and messages an admin can act on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from oncall.findings import Finding
from oncall.schedules import Override, Person, Schedule, check_schedules

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=LA)  # a Wednesday


def person(ident: str, **extra: Any) -> Person:
    data: dict[str, Any] = {"id": ident, "name": ident.title(), "timezone": "America/Los_Angeles",
                            "phone": "+14155550101"}
    data.update(extra)
    return Person.model_validate(data)


def schedule(ident: str = "primary", participants: tuple[str, ...] = ("alice", "bob"),
             restrictions: list[dict[str, Any]] | None = None) -> Schedule:
    lay: dict[str, Any] = {"name": "weekly", "participants": list(participants), "shift": "1w",
                           "handoff_time": "09:00", "start_date": "2026-01-05"}
    if restrictions is not None:
        lay["restrictions"] = restrictions
    return Schedule.model_validate({"id": ident, "timezone": "America/Los_Angeles",
                                    "layers": [lay]})


def override(ident: str, start: str, end: str, *, who: str = "bob", replaces: str | None = None,
             sched: str = "primary") -> Override:
    return Override(id=ident, schedule=sched, person=who, replaces=replaces,
                    start=datetime.fromisoformat(start).replace(tzinfo=LA),
                    end=datetime.fromisoformat(end).replace(tzinfo=LA))


PEOPLE = (person("alice"), person("bob"))


def run(people: tuple[Person, ...] = PEOPLE, schedules: tuple[Schedule, ...] = (),
        overrides: tuple[Override, ...] = (), used: set[str] | None = None,
        horizon: timedelta = timedelta(days=28)) -> list[Finding]:
    return check_schedules(people, schedules or (schedule(),), overrides, now=NOW,
                           horizon=horizon, used_schedules=used or set())


def test_clean_configuration_has_no_findings() -> None:
    assert run(used={"primary"}) == []


CASES: list[tuple[str, dict[str, Any], tuple[str | int, ...], str, str]] = [
    ("unknown participant", {"schedules": (schedule(participants=("alice", "zed")),)},
     ("schedules", 0, "layers", 0, "participants", 1), "unknown person 'zed'", "error"),
    ("duplicate person", {"people": (*PEOPLE, person("alice"))},
     ("people", 2, "id"), "duplicate person id 'alice'", "error"),
    ("duplicate schedule", {"schedules": (schedule(), schedule())},
     ("schedules", 1, "id"), "duplicate schedule id 'primary'", "error"),
    ("duplicate override", {"overrides": (
        override("o1", "2026-12-01T00:00", "2026-12-02T00:00"),
        override("o1", "2026-12-05T00:00", "2026-12-06T00:00"))},
     ("overrides", 1, "id"), "duplicate override id 'o1'", "error"),
    ("unknown manager", {"people": (person("alice", manager="boss"), person("bob"))},
     ("people", 0, "manager"), "manager 'boss'", "error"),
    ("sms without phone", {"people": (person("alice", phone=None), person("bob"))},
     ("people", 0, "contact_methods"), "has no phone number", "error"),
    ("email without address", {"people": (person("alice", contact_methods=["email"]),
                                          person("bob"))},
     ("people", 0, "contact_methods"), "has no email", "error"),
    ("override unknown person", {"overrides": (
        override("o1", "2026-12-01T00:00", "2026-12-02T00:00", who="zed"),)},
     ("overrides", 0, "person"), "unknown person 'zed'", "error"),
    ("override replaces unknown", {"overrides": (
        override("o1", "2026-12-01T00:00", "2026-12-02T00:00", replaces="zed"),)},
     ("overrides", 0, "replaces"), "replaces unknown person 'zed'", "error"),
    ("override unknown schedule", {"overrides": (
        override("o1", "2026-12-01T00:00", "2026-12-02T00:00", sched="nope"),)},
     ("overrides", 0, "schedule"), "unknown schedule 'nope'", "error"),
    ("override ends before start", {"overrides": (
        override("o1", "2026-12-02T00:00", "2026-12-01T00:00"),)},
     ("overrides", 0, "end"), "ends (2026-12-01T00:00:00-08:00) before it starts", "error"),
    ("whole-schedule overlap", {"overrides": (
        override("o2", "2026-12-01T12:00", "2026-12-03T00:00"),
        override("o1", "2026-12-01T00:00", "2026-12-02T00:00"))},
     ("overrides", 0), "'o2' overlaps 'o1' for the whole schedule", "error"),
    ("same replaced person overlap", {"overrides": (
        override("o1", "2026-12-01T00:00", "2026-12-02T00:00", replaces="alice"),
        override("o2", "2026-12-01T12:00", "2026-12-03T00:00", who="alice", replaces="alice"))},
     ("overrides", 1), "for 'alice''s slot", "error"),
    ("empty days", {"schedules": (schedule(restrictions=[{"days": [], "from": "17:00",
                                                          "to": "08:00"}]),)},
     ("schedules", 0, "layers", 0, "restrictions", 0), "lists no days and can never match",
     "error"),
    ("from equals to", {"schedules": (schedule(restrictions=[{"days": ["mon"], "from": "17:00",
                                                              "to": "17:00"}]),)},
     ("schedules", 0, "layers", 0, "restrictions", 0), "starts and ends at 17:00", "error"),
    ("twice in a row", {"schedules": (schedule(participants=("alice", "alice", "bob")),)},
     ("schedules", 0, "layers", 0, "participants", 0), "listed twice in a row", "warning"),
]


@pytest.mark.parametrize(("name", "kwargs", "path", "text", "severity"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_error_kind(name: str, kwargs: dict[str, Any], path: tuple[str | int, ...],
                         text: str, severity: str) -> None:
    found = run(**kwargs)
    matching = [f for f in found if f.path == path and text in f.message]
    assert len(matching) == 1, found
    assert matching[0].severity == severity


def test_overrides_for_different_slots_do_not_overlap() -> None:
    overrides = (override("o1", "2026-12-01T00:00", "2026-12-02T00:00", replaces="alice"),
                 override("o2", "2026-12-01T00:00", "2026-12-02T00:00", who="alice",
                          replaces="bob"),
                 override("o3", "2026-12-02T00:00", "2026-12-03T00:00", replaces="alice"))
    # Bob has that week, so o1 and o3 change nothing: warnings (see test_schedules_idle_overrides).
    assert [] == [f for f in run(overrides=overrides) if f.severity == "error"]


WEEKDAY_ONLY = [{"days": ["mon"], "from": "09:00", "to": "24:00"},
                {"days": ["tue", "wed", "thu", "fri"], "from": "00:00", "to": "24:00"},
                {"days": ["sat"], "from": "00:00", "to": "08:00"}]


def test_coverage_gap_is_reported_in_schedule_time_zone() -> None:
    found = run(schedules=(schedule(restrictions=WEEKDAY_ONLY),), used={"primary"},
                horizon=timedelta(days=7))
    assert found == [Finding(path=("schedules", 0), message=(
        "schedule 'primary' has nobody on call from Sat 2026-11-28 08:00 to "
        "Mon 2026-11-30 09:00 (America/Los_Angeles)"))]


def test_coverage_gap_only_for_used_schedules() -> None:
    assert run(schedules=(schedule(restrictions=WEEKDAY_ONLY),), used=set()) == []


def test_override_fills_coverage_gap() -> None:
    cover = override("o1", "2026-11-28T08:00", "2026-11-30T09:00")
    found = run(schedules=(schedule(restrictions=WEEKDAY_ONLY),), overrides=(cover,),
                used={"primary"}, horizon=timedelta(days=7))
    assert found == []


def test_coverage_gap_reaching_the_horizon_says_so() -> None:
    found = run(schedules=(schedule(restrictions=WEEKDAY_ONLY),), used={"primary"},
                horizon=timedelta(days=3, hours=2))  # ends Sat 14:00
    assert [f.message for f in found] == [
        "schedule 'primary' has nobody on call from Sat 2026-11-28 08:00 to Sat 2026-11-28 "
        "14:00 (America/Los_Angeles); the gap may continue past the end of the checked window"]


def test_coverage_horizon_is_real_time_across_fall_back() -> None:
    """A day from Saturday noon PDT ends on Sunday at 11:00 PST (24 hours), not 12:00 PST."""
    found = check_schedules(PEOPLE, (schedule(restrictions=WEEKDAY_ONLY),), (),
                            now=datetime(2026, 10, 31, 12, 0, tzinfo=LA), horizon=timedelta(days=1),
                            used_schedules={"primary"})
    assert [f.message for f in found] == [
        "schedule 'primary' has nobody on call from Sat 2026-10-31 12:00 to Sun 2026-11-01 "
        "11:00 (America/Los_Angeles); the gap may continue past the end of the checked window"]


@pytest.mark.parametrize(("phone", "message"), [
    ("+1415555", "not a valid number"),
    ("4155550101", "E.164"),
    (4155550101, "in quotes"),
])
def test_invalid_phone_numbers_are_refused(phone: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        person("alice", phone=phone)


def test_phone_numbers_are_normalised_to_e164() -> None:
    assert person("alice", phone="+44 20 7946 0958").phone == "+442079460958"
