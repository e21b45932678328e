"""Properties: shifts and on_call agree everywhere, across zones, DST and overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from oncall.schedules import Override, ResolvedSchedule, Schedule

ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[ResolvedSchedule, datetime, datetime]:
    tz = draw(st.sampled_from(ZONES))
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        restrictions = []
        if draw(st.booleans()):
            days = draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                                 min_size=1, max_size=7))
            f, t = draw(st.integers(0, 23)), draw(st.integers(0, 24))
            if f != t:
                restrictions.append({"days": days, "from": f"{f:02d}:00", "to": f"{t:02d}:00"})
        layers.append({
            "participants": draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4)),
            "shift": f"{draw(st.sampled_from([1, 2, 8, 12, 24, 36, 168]))}h",
            "handoff_time": f"{draw(st.integers(0, 23)):02d}:{draw(st.sampled_from([0, 30])):02d}",
            "start_date": (date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 400)))).isoformat(),
            "restrictions": restrictions,
        })
    schedule = Schedule.model_validate({"id": "s", "timezone": tz, "layers": layers})
    base = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 24 * 500)))
    overrides = [Override(id=f"o{i}", schedule="s", person=draw(st.sampled_from("xyz")),
                          replaces=draw(st.sampled_from([None, "a", "b"])),
                          start=base + timedelta(hours=draw(st.integers(0, 200))),
                          end=base + timedelta(hours=draw(st.integers(0, 200))))
                 for i in range(draw(st.integers(0, 4)))]
    start = base + timedelta(minutes=draw(st.integers(0, 600)))
    return ResolvedSchedule(schedule, overrides), start, start + timedelta(days=10)


@settings(max_examples=150, deadline=None)
@given(cases(), st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_shifts_and_on_call_agree(case: tuple[ResolvedSchedule, datetime, datetime],
                                  fractions: list[float]) -> None:
    resolved, start, end = case
    segments = resolved.segments(start, end)
    assert segments[0][0] == start and segments[-1][1] == end
    assert all(a[1] == b[0] and a[2] != b[2] for a, b in pairwise(segments))
    found = resolved.shifts(start, end)
    for f in fractions:
        t = start + (end - start) * f
        if t >= end:
            continue
        expected = resolved.on_call(t)
        covering = {s.person for s in found if s.start <= t < s.end}
        assert covering == set(expected)
        # the rotation is the same when asked in another zone
        assert resolved.on_call(t.astimezone(ZoneInfo("Asia/Tokyo"))) == expected


@settings(max_examples=150, deadline=None)
@given(cases(), st.integers(-24 * 40, 24 * 40), st.integers(1, 24 * 20))
def test_whole_shifts_do_not_depend_on_the_window(case: tuple[ResolvedSchedule, datetime, datetime],
                                                  shift_hours: int, length_hours: int) -> None:
    """Two windows give identical shifts wherever they overlap, and those shifts cover on_call."""
    resolved, start, end = case
    other_start = start + timedelta(hours=shift_hours)
    other_end = other_start + timedelta(hours=length_hours)
    first = resolved.whole_shifts(start, end)
    second = resolved.whole_shifts(other_start.astimezone(ZoneInfo("Asia/Tokyo")), other_end)
    lo, hi = max(start, other_start), min(end, other_end)
    if lo < hi:
        assert ([s for s in first if s.end > lo and s.start < hi]
                == [s for s in second if s.end > lo and s.start < hi])
    for a, b in pairwise(first):
        assert a.person != b.person or a.end <= b.start or a.start >= b.end
    for s in first:
        assert s.end > start and s.start < end
        assert s.person in resolved.on_call(s.start)
        assert s.person in resolved.on_call(s.end - timedelta(microseconds=1))
