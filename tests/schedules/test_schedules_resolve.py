"""Resolution: rotations across DST, restrictions, layers, overrides, long horizons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from oncall.errors import ScheduleError
from oncall.schedules import (
    Override,
    ResolvedSchedule,
    Schedule,
    Shift,
    members,
    on_call,
    shifts,
)

NY = ZoneInfo("America/New_York")
LDN = ZoneInfo("Europe/London")
LA = ZoneInfo("America/Los_Angeles")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def make_schedule(tz: str, *layers: dict[str, Any], sid: str = "primary") -> Schedule:
    return Schedule.model_validate({"id": sid, "timezone": tz, "layers": list(layers)})


def layer(participants: list[str], shift: str, handoff: str, start: str,
          restrictions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"participants": participants, "shift": shift, "handoff_time": handoff,
                           "start_date": start}
    if restrictions:
        out["restrictions"] = restrictions
    return out


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, tz: ZoneInfo) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


# Daily rotations a, b, c whose third hand-off falls on a DST change day.
DST_CASES = [
    # zone, rotation start, instant (UTC), expected
    ("America/New_York", "2026-03-06", "2026-03-08T06:30", "b"),  # 01:30 EST, before the jump
    ("America/New_York", "2026-03-06", "2026-03-08T12:59", "b"),  # 08:59 EDT
    ("America/New_York", "2026-03-06", "2026-03-08T13:00", "c"),  # 09:00 EDT: hand-off
    ("America/New_York", "2026-10-30", "2026-11-01T13:59", "b"),  # 08:59 EST
    ("America/New_York", "2026-10-30", "2026-11-01T14:00", "c"),  # 09:00 EST: hand-off
    ("America/New_York", "2026-10-30", "2026-11-01T06:30", "b"),  # 01:30 EST (second 01:30)
    ("Europe/London", "2026-03-27", "2026-03-29T07:59", "b"),  # 08:59 BST
    ("Europe/London", "2026-03-27", "2026-03-29T08:00", "c"),  # 09:00 BST: hand-off
    ("Europe/London", "2026-10-23", "2026-10-25T08:59", "b"),  # 08:59 GMT
    ("Europe/London", "2026-10-23", "2026-10-25T09:00", "c"),  # 09:00 GMT: hand-off
]


@pytest.mark.parametrize(("tz", "start", "instant", "expected"), DST_CASES)
def test_daily_handoff_stays_at_local_nine_across_dst(tz: str, start: str, instant: str,
                                                       expected: str) -> None:
    s = make_schedule(tz, layer(["a", "b", "c"], "1d", "09:00", start))
    assert on_call(s, utc(instant)) == (expected,)


@pytest.mark.parametrize(("tz", "start", "b_from", "b_to", "hours"), [
    ("America/New_York", "2026-03-06", "2026-03-07T14:00", "2026-03-08T13:00", 23),
    ("America/New_York", "2026-10-30", "2026-10-31T13:00", "2026-11-01T14:00", 25),
    ("Europe/London", "2026-03-27", "2026-03-28T09:00", "2026-03-29T08:00", 23),
    ("Europe/London", "2026-10-23", "2026-10-24T08:00", "2026-10-25T09:00", 25),
])
def test_shift_over_dst_change_is_an_hour_shorter_or_longer(tz: str, start: str, b_from: str,
                                                            b_to: str, hours: int) -> None:
    s = make_schedule(tz, layer(["a", "b", "c"], "1d", "09:00", start))
    found = shifts(s, utc(b_from) - timedelta(hours=1), utc(b_to) + timedelta(hours=1))
    b = [x for x in found if x.person == "b"]
    assert [(x.start, x.end) for x in b] == [(utc(b_from), utc(b_to))]
    assert b[0].end - b[0].start == timedelta(hours=hours)


@pytest.mark.parametrize(("instant", "expected"), [
    ("2026-03-08T00:59", "a"),  # 19:59 EST Sat
    ("2026-03-08T01:00", "b"),  # 20:00 EST Sat
    ("2026-03-08T11:59", "b"),  # 07:59 EDT Sun: b's night was 11h long
    ("2026-03-08T12:00", "a"),  # 08:00 EDT Sun
    ("2026-03-09T00:00", "b"),  # 20:00 EDT Sun
])
def test_twelve_hour_shifts_keep_wall_clock_handoffs(instant: str, expected: str) -> None:
    s = make_schedule("America/New_York", layer(["a", "b"], "12h", "08:00", "2026-03-07"))
    assert on_call(s, utc(instant)) == (expected,)


@pytest.mark.parametrize(("instant", "expected"), [
    ("2026-03-08T06:59", "b"),  # 01:59 EST
    ("2026-03-08T07:00", "a"),  # 03:00 EDT: the 02:30 hand-off happens when clocks jump
    ("2026-03-08T18:29", "a"),
    ("2026-03-08T18:30", "b"),  # 14:30 EDT
])
def test_handoff_at_nonexistent_time_happens_at_the_jump(instant: str, expected: str) -> None:
    s = make_schedule("America/New_York", layer(["a", "b"], "12h", "02:30", "2026-03-07"))
    assert on_call(s, utc(instant)) == (expected,)


@pytest.mark.parametrize(("instant", "expected"), [
    ("2026-11-01T05:29", "b"),  # 01:29 EDT
    ("2026-11-01T05:30", "a"),  # 01:30 EDT: first occurrence of the repeated time
    ("2026-11-01T06:15", "a"),  # 01:15 EST: the wall clock repeats, the rotation does not
    ("2026-11-01T06:45", "a"),  # 01:45 EST
    ("2026-11-01T18:30", "b"),  # 13:30 EST
])
def test_handoff_at_repeated_time_uses_first_occurrence(instant: str, expected: str) -> None:
    s = make_schedule("America/New_York", layer(["a", "b"], "12h", "01:30", "2026-10-31"))
    assert on_call(s, utc(instant)) == (expected,)


WEEKLY = layer(["alice", "bob", "carol"], "1w", "10:00", "2026-01-07")  # a Wednesday


@pytest.mark.parametrize(("when", "expected"), [
    ("2026-01-07T09:59", "carol"),  # before the first hand-off the rotation runs backwards
    ("2026-01-07T10:00", "alice"),
    ("2026-01-10T03:00", "alice"),
    ("2026-01-14T09:59", "alice"),
    ("2026-01-14T10:00", "bob"),
    ("2026-01-21T10:00", "carol"),
    ("2026-01-28T10:00", "alice"),
    ("2026-03-11T09:59", "carol"),  # PDT from Mar 8; hand-off still 10:00 local
    ("2026-03-11T10:00", "alice"),
    ("2025-12-31T10:00", "carol"),
    ("2025-12-24T10:00", "bob"),
])
def test_weekly_rotation_of_three_starting_mid_week(when: str, expected: str) -> None:
    s = make_schedule("America/Los_Angeles", WEEKLY)
    assert on_call(s, local(when, LA)) == (expected,)


@pytest.mark.parametrize(("when", "tz", "expected"), [
    # weekly from Wed 2026-01-07: 2031-01-08 is 261 weeks later, 261 % 3 == 0
    ("2031-01-08T10:00", LA, "alice"),
    ("2031-01-08T09:59", LA, "carol"),
    ("2030-12-31T23:00", LA, "bob"),  # 259 weeks
    ("2031-06-18T10:00", LA, "carol"),  # 284 weeks, PDT
    ("2031-06-18T09:59", LA, "bob"),
])
def test_five_year_horizon_weekly(when: str, tz: ZoneInfo, expected: str) -> None:
    s = make_schedule("America/Los_Angeles", WEEKLY)
    assert on_call(s, local(when, tz)) == (expected,)


@pytest.mark.parametrize(("when", "expected"), [
    ("2028-02-29T08:59", "c"),  # day 788 since 2026-01-01
    ("2028-02-29T09:00", "a"),  # day 789: leap day is a shift like any other
    ("2028-03-01T08:59", "a"),
    ("2028-03-01T09:00", "b"),
    ("2030-12-31T09:00", "b"),  # day 1825, 1825 % 3 == 1
])
def test_daily_rotation_through_leap_day(when: str, expected: str) -> None:
    s = make_schedule("Europe/London", layer(["a", "b", "c"], "1d", "09:00", "2026-01-01"))
    assert on_call(s, local(when, LDN)) == (expected,)


NIGHTS = [{"days": WEEKDAYS, "from": "17:00", "to": "08:00"},
          {"days": ["sat", "sun"], "from": "00:00", "to": "24:00"}]
TWO_LAYERS = (layer(["alice", "bob"], "1w", "09:00", "2026-01-05"),
              layer(["night"], "1w", "09:00", "2026-01-05", NIGHTS))


@pytest.mark.parametrize(("when", "expected"), [
    ("2026-01-05T16:59", ("alice",)),  # Mon daytime: upper layer empty, falls through
    ("2026-01-05T17:00", ("night",)),
    ("2026-01-06T03:00", ("night",)),  # Mon 17:00 -> Tue 08:00 crosses midnight
    ("2026-01-06T07:59", ("night",)),
    ("2026-01-06T08:00", ("alice",)),
    ("2026-01-09T23:00", ("night",)),
    ("2026-01-10T00:00", ("night",)),
    ("2026-01-11T23:59", ("night",)),
    ("2026-01-12T00:00", ("alice",)),  # Sunday ends at 24:00; no Sunday-night window
    ("2026-01-12T09:00", ("bob",)),
])
def test_two_layers_upper_with_gaps_falls_through(when: str, expected: tuple[str, ...]) -> None:
    s = make_schedule("America/New_York", *TWO_LAYERS)
    assert on_call(s, local(when, NY)) == expected


def test_restricted_layer_alone_leaves_nobody_outside_its_windows() -> None:
    s = make_schedule("America/New_York", TWO_LAYERS[1])
    assert on_call(s, local("2026-01-05T12:00", NY)) == ()


def test_midnight_crossing_window_on_dst_night_is_five_real_hours() -> None:
    s = make_schedule("America/New_York", layer(["n"], "1d", "09:00", "2026-01-01",
                                                [{"days": ["sat"], "from": "22:00", "to": "04:00"}]))
    found = shifts(s, utc("2026-03-07T00:00"), utc("2026-03-09T00:00"))
    assert found == [Shift(start=utc("2026-03-08T03:00"), end=utc("2026-03-08T08:00"),
                           person="n", schedule="primary")]


def ovr(ident: str, person: str, start: str, end: str, replaces: str | None = None) -> Override:
    return Override(id=ident, schedule="primary", person=person, replaces=replaces,
                    start=local(start, LA), end=local(end, LA))


PARTIAL = ovr("o1", "dave", "2026-01-10T12:00", "2026-01-16T12:00", replaces="alice")


@pytest.mark.parametrize(("when", "overrides", "expected"), [
    ("2026-01-10T11:59", (PARTIAL,), ("alice",)),
    ("2026-01-10T12:00", (PARTIAL,), ("dave",)),
    ("2026-01-14T09:59", (PARTIAL,), ("dave",)),
    ("2026-01-14T10:00", (PARTIAL,), ("bob",)),  # replaces alice only; bob is not replaced
    ("2026-01-16T12:00", (PARTIAL,), ("bob",)),
    ("2026-01-13T00:00", (ovr("w", "erin", "2026-01-13T00:00", "2026-01-15T00:00"),), ("erin",)),
    ("2026-01-14T10:00", (ovr("w", "erin", "2026-01-13T00:00", "2026-01-15T00:00"),), ("erin",)),
    ("2026-01-15T00:00", (ovr("w", "erin", "2026-01-13T00:00", "2026-01-15T00:00"),), ("bob",)),
    # a whole-schedule override, then a swap on top of it
    ("2026-01-13T12:00", (ovr("w", "erin", "2026-01-13T00:00", "2026-01-15T00:00"),
                          ovr("s", "frank", "2026-01-13T06:00", "2026-01-13T18:00", "erin")),
     ("frank",)),
])
def test_overrides(when: str, overrides: tuple[Override, ...], expected: tuple[str, ...]) -> None:
    s = make_schedule("America/Los_Angeles", WEEKLY)
    assert on_call(s, local(when, LA), overrides) == expected


def test_override_partly_overlapping_a_shift_cuts_shifts() -> None:
    s = make_schedule("America/Los_Angeles", WEEKLY)
    found = shifts(s, local("2026-01-07T10:00", LA), local("2026-01-21T10:00", LA), (PARTIAL,))
    assert [(x.person, x.start, x.end) for x in found] == [
        ("alice", local("2026-01-07T10:00", LA), local("2026-01-10T12:00", LA)),
        ("dave", local("2026-01-10T12:00", LA), local("2026-01-14T10:00", LA)),
        ("bob", local("2026-01-14T10:00", LA), local("2026-01-21T10:00", LA)),
    ]


def test_overrides_of_other_schedules_and_empty_windows_are_ignored() -> None:
    s = make_schedule("America/Los_Angeles", WEEKLY)
    other = Override(id="x", schedule="secondary", person="zed", start=local("2026-01-08T00:00", LA),
                     end=local("2026-01-09T00:00", LA))
    backwards = ovr("y", "zed", "2026-01-09T00:00", "2026-01-08T00:00")
    assert on_call(s, local("2026-01-08T12:00", LA), (other, backwards)) == ("alice",)


def test_shifts_merge_adjacent_segments_of_the_same_person() -> None:
    # alice in both layers: the restriction edge must not split her shift
    s = make_schedule("America/New_York", layer(["alice"], "1d", "09:00", "2026-01-01"),
                      layer(["alice"], "1d", "09:00", "2026-01-01", NIGHTS))
    found = shifts(s, local("2026-01-05T00:00", NY), local("2026-01-07T00:00", NY))
    assert len(found) == 1


def test_shifts_over_five_years_cover_every_instant_once() -> None:
    s = make_schedule("America/New_York", *TWO_LAYERS)
    start, end = local("2026-01-01T00:00", NY), local("2031-01-01T00:00", NY)
    found = shifts(s, start, end)
    assert found[0].start == start and found[-1].end == end
    assert all(a.end == b.start for a, b in pairwise(found))


def test_resolved_schedule_matches_module_functions() -> None:
    s = make_schedule("America/Los_Angeles", WEEKLY)
    r = ResolvedSchedule(s, (PARTIAL,))
    t = local("2026-01-12T00:00", LA)
    assert r.on_call(t) == on_call(s, t, (PARTIAL,)) == ("dave",)


def test_members_lists_every_participant_once() -> None:
    s = make_schedule("America/New_York", *TWO_LAYERS)
    assert members(s) == ("alice", "bob", "night")


@pytest.mark.parametrize("bad", [datetime(2026, 1, 1, 12, 0)])
def test_naive_instants_are_refused(bad: datetime) -> None:
    s = make_schedule("America/New_York", *TWO_LAYERS)
    with pytest.raises(ScheduleError, match="no time zone"):
        on_call(s, bad)
    with pytest.raises(ScheduleError):
        shifts(s, bad, bad + timedelta(days=1))


def test_shifts_refuse_empty_window() -> None:
    s = make_schedule("America/New_York", *TWO_LAYERS)
    t = local("2026-01-05T00:00", NY)
    with pytest.raises(ScheduleError, match="not after"):
        shifts(s, t, t)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("shift", "90m", "whole number of hours"),
    ("shift", "0h", "whole number of hours"),
    ("handoff_time", "24:00", "between 00:00 and 23:59"),
    ("participants", [], "at least 1"),
])
def test_layer_validation(field: str, value: object, message: str) -> None:
    data = layer(["a"], "1d", "09:00", "2026-01-01")
    data[field] = value
    with pytest.raises(ValueError, match=message):
        make_schedule("UTC", data)
