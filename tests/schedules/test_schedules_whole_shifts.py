"""whole_shifts: shifts overlapping a window with their true ends, the same whatever the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from oncall.errors import ScheduleError
from oncall.schedules import Override, ResolvedSchedule, Schedule, Shift

LA = ZoneInfo("America/Los_Angeles")
LDN = ZoneInfo("Europe/London")


def la(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LA)


def ldn(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LDN)


def schedule(tz: str, *layers: dict[str, Any]) -> Schedule:
    return Schedule.model_validate({"id": "s", "timezone": tz, "layers": list(layers)})


WEEKLY = ResolvedSchedule(schedule("America/Los_Angeles", {
    "participants": ["alice", "bob"], "shift": "1w", "handoff_time": "09:00",
    "start_date": "2026-01-05"}))
# Nights only, the same person every night: each night is one shift.
NIGHTS = ResolvedSchedule(schedule("Europe/London", {
    "participants": ["bob"], "shift": "1d", "handoff_time": "18:00", "start_date": "2026-01-05",
    "restrictions": [{"days": ["weekdays", "weekends"], "from": "18:00", "to": "06:00"}]}))
ALONE = ResolvedSchedule(schedule("Europe/London", {
    "participants": ["solo"], "shift": "1w", "handoff_time": "09:00", "start_date": "2026-01-05"}))


def shift(start: datetime, end: datetime, person: str) -> Shift:
    return Shift(start=start.astimezone(UTC), end=end.astimezone(UTC), person=person, schedule="s")


@pytest.mark.parametrize(("resolved", "start", "end", "expected"), [
    pytest.param(WEEKLY, la("2026-01-14T00:00"), la("2026-01-15T00:00"),
                 [shift(la("2026-01-12T09:00"), la("2026-01-19T09:00"), "bob")],
                 id="window inside one shift"),
    pytest.param(WEEKLY, la("2026-01-16T12:00"), la("2026-01-20T12:00"),
                 [shift(la("2026-01-12T09:00"), la("2026-01-19T09:00"), "bob"),
                  shift(la("2026-01-19T09:00"), la("2026-01-26T09:00"), "alice")],
                 id="window across a hand-off"),
    pytest.param(WEEKLY, la("2026-03-10T00:00"), la("2026-03-10T01:00"),
                 [shift(la("2026-03-09T09:00"), la("2026-03-16T09:00"), "bob")],
                 id="shift with a spring-forward weekend before it"),
    pytest.param(NIGHTS, ldn("2026-10-25T05:00"), ldn("2026-10-25T05:30"),
                 [shift(ldn("2026-10-24T18:00"), ldn("2026-10-25T06:00"), "bob")],
                 id="fall-back night: 18:00 BST to 06:00 GMT, from a window at its end"),
    pytest.param(NIGHTS, ldn("2026-10-24T12:00"), ldn("2026-10-24T19:00"),
                 [shift(ldn("2026-10-24T18:00"), ldn("2026-10-25T06:00"), "bob")],
                 id="fall-back night, from a window at its start"),
    pytest.param(NIGHTS, ldn("2026-10-24T05:00"), ldn("2026-10-24T19:00"),
                 [shift(ldn("2026-10-23T18:00"), ldn("2026-10-24T06:00"), "bob"),
                  shift(ldn("2026-10-24T18:00"), ldn("2026-10-25T06:00"), "bob")],
                 id="two nights of the same person are two shifts"),
    pytest.param(ALONE, ldn("2026-10-24T12:00"), ldn("2026-10-26T12:00"),
                 [shift(ldn("2026-10-01T00:00"), ldn("2026-11-01T00:00"), "solo")],
                 id="on call for ever: one local calendar month at a time"),
    pytest.param(ALONE, ldn("2026-10-31T23:00"), ldn("2026-11-01T01:00"),
                 [shift(ldn("2026-10-01T00:00"), ldn("2026-11-01T00:00"), "solo"),
                  shift(ldn("2026-11-01T00:00"), ldn("2026-12-01T00:00"), "solo")],
                 id="on call for ever, window across a month start"),
])
def test_whole_shifts_have_their_true_ends(resolved: ResolvedSchedule, start: datetime, end: datetime,
                                           expected: list[Shift]) -> None:
    assert expected == resolved.whole_shifts(start, end)


def test_override_cuts_a_whole_shift_where_it_starts() -> None:
    cover = Override(id="o", schedule="s", person="carol", replaces="bob",
                     start=la("2026-01-14T12:00"), end=la("2026-01-15T12:00"))
    resolved = ResolvedSchedule(WEEKLY.schedule, (cover,))
    assert [shift(la("2026-01-12T09:00"), la("2026-01-14T12:00"), "bob"),
            shift(la("2026-01-14T12:00"), la("2026-01-15T12:00"), "carol"),
            shift(la("2026-01-15T12:00"), la("2026-01-19T09:00"), "bob")
            ] == resolved.whole_shifts(la("2026-01-13T00:00"), la("2026-01-16T00:00"))


def test_a_stretch_of_exactly_the_limit_is_not_cut() -> None:
    """35 days alone (between two 5-week shifts of others) is one shift, from any window."""
    five_weeks = ResolvedSchedule(schedule("UTC", {
        "participants": ["a", "b"], "shift": "840h", "handoff_time": "00:00", "start_date": "2026-01-01"}))
    expected = [Shift(start=datetime(2026, 2, 5, tzinfo=UTC), end=datetime(2026, 3, 12, tzinfo=UTC),
                      person="b", schedule="s")]
    for day in range(5, 12 + 28 + 1, 3):
        t = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(days=day)
        assert expected == five_weeks.whole_shifts(t, t + timedelta(hours=1)), t


def test_whole_shifts_refuse_naive_and_empty_windows() -> None:
    with pytest.raises(ScheduleError, match="no time zone"):
        WEEKLY.whole_shifts(datetime(2026, 1, 1), la("2026-01-02T00:00"))
    with pytest.raises(ScheduleError, match="not after"):
        WEEKLY.whole_shifts(la("2026-01-02T00:00"), la("2026-01-02T00:00"))
