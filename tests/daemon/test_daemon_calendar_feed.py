"""Calendar feeds over HTTP as a subscribed phone sees them: fetched again and again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from daemon_rig import MakeRig, Rig
from icalendar import Calendar

from oncall.web.api import feed_token

TOKEN = "api-token-for-tests"


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig(api_token=TOKEN)


def fetch(rig: Rig, kind: str, ident: str) -> dict[str, tuple[datetime, ...]]:
    """UID -> (DTSTART, DTEND, DTSTAMP) in UTC."""
    token = feed_token(TOKEN, kind, ident)
    response = rig.request("GET", f"/calendars/{kind}/{ident}.ics?token={token}")
    assert 200 == response.status_code
    return {str(e["UID"]): tuple(e.decoded(k).astimezone(UTC) for k in ("DTSTART", "DTEND", "DTSTAMP"))
            for e in Calendar.from_ical(response.content).walk("VEVENT")}


@pytest.mark.parametrize(("kind", "ident"), [("schedule", "emergency"), ("person", "erin")])
def test_a_later_fetch_keeps_uids_and_times_and_stamps_the_fetch_time(rig: Rig, kind: str, ident: str) -> None:
    first_at = rig.clock.now()
    first = fetch(rig, kind, ident)
    rig.clock.advance(timedelta(days=1, hours=5))  # erin's week (from Mon 23 Nov) still runs
    second = fetch(rig, kind, ident)
    running = [u for u, (a, b, _) in first.items() if a <= rig.clock.now() < b]
    assert 1 == len(running)
    assert first[running[0]][:2] == second[running[0]][:2]
    common = first.keys() & second.keys()
    assert {u: first[u][:2] for u in common} == {u: second[u][:2] for u in common}
    assert len(common) >= len(first) - 1  # at most the oldest shift left the window
    assert {first_at.astimezone(UTC)} == {s for *_, s in first.values()}
    assert {rig.clock.now().astimezone(UTC)} == {s for *_, s in second.values()}
