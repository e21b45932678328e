"""Benchmark: who-is-on-call queries, ours against RFC 5545 recurrence expansion.

The schedule has three layers (weekly primary, nightly weekday cover, weekend cover) and
200 overrides over two years. The peer answers the same questions the way
iCalendar-based on-call tools do: each participant's turns are an RRULE (interval =
shift × participants) expanded with python-dateutil, restriction windows are RRULEs
too, and overrides are events scanned linearly. Both answers are compared first.

Run: ``python bench/bench_schedules.py`` (prints a Markdown table, ~10 s).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

from oncall.schedules import Override, ResolvedSchedule, Schedule, Shift

TZ = ZoneInfo("America/New_York")
START = datetime(2026, 1, 5, tzinfo=TZ)
SPAN = timedelta(days=730)
PEOPLE = [f"p{i}" for i in range(12)]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]

SCHEDULE = Schedule.model_validate({
    "id": "primary", "timezone": TZ.key, "layers": [
        {"name": "primary", "participants": PEOPLE[:5], "shift": "1w", "handoff_time": "09:00",
         "start_date": "2026-01-05"},
        {"name": "nights", "participants": PEOPLE[5:9], "shift": "1d", "handoff_time": "17:00",
         "start_date": "2026-01-05",
         "restrictions": [{"days": WEEKDAYS, "from": "17:00", "to": "08:00"}]},
        {"name": "weekend", "participants": PEOPLE[9:], "shift": "1w", "handoff_time": "00:00",
         "start_date": "2026-01-10",
         "restrictions": [{"days": ["sat", "sun"], "from": "00:00", "to": "24:00"}]},
    ]})


def make_overrides(rng: random.Random, count: int = 200) -> tuple[Override, ...]:
    out: list[Override] = []
    for i in range(count):
        start = START + timedelta(hours=rng.randrange(0, int(SPAN.total_seconds() // 3600)))
        end = start + timedelta(hours=rng.choice([4, 12, 24, 48, 72]))
        replaces = rng.choice([None, *PEOPLE]) if i % 2 else None
        out.append(Override(id=f"o{i}", schedule="primary", person=rng.choice(PEOPLE),
                            replaces=replaces, start=start, end=end))
    return tuple(out)


_BYDAY = {"mon": rrule.MO, "tue": rrule.TU, "wed": rrule.WE, "thu": rrule.TH, "fri": rrule.FR,
          "sat": rrule.SA, "sun": rrule.SU}


class RRulePeer:
    """The same schedule as RFC 5545 recurrences, evaluated with dateutil."""

    def __init__(self, schedule: Schedule, overrides: tuple[Override, ...]) -> None:
        self.tz = schedule.timezone
        self.layers: list[tuple[list[tuple[str, rrule.rrule, timedelta]],
                                list[tuple[rrule.rrule, timedelta]]]] = []
        for layer in schedule.layers:
            n = len(layer.participants)
            first = datetime.combine(layer.start_date, layer.handoff_time, self.tz)
            hours = int(layer.shift.total_seconds() // 3600)
            # one cycle before the anchor: oncall's rotations also run backwards
            turns = [(person, rrule.rrule(rrule.HOURLY, interval=hours * n,
                                          dtstart=first + (i - n) * layer.shift), layer.shift)
                     for i, person in enumerate(layer.participants)]
            windows = []
            for r in layer.restrictions:
                start = datetime.combine(layer.start_date - timedelta(days=7), r.from_, self.tz)
                until = (datetime.combine(layer.start_date, r.to) if r.to != r.to.max
                         else datetime.combine(layer.start_date + timedelta(days=1),
                                               r.to.min))
                length = until - datetime.combine(layer.start_date, r.from_)
                if length <= timedelta(0):
                    length += timedelta(days=1)
                windows.append((rrule.rrule(rrule.WEEKLY, byweekday=[_BYDAY[d] for d in r.days],
                                            dtstart=start), length))
            self.layers.append((turns, windows))
        self.overrides = sorted(overrides, key=lambda o: o.start)

    def on_call(self, t: datetime) -> tuple[str, ...]:
        local = t.astimezone(self.tz)
        base: tuple[str, ...] = ()
        for turns, windows in reversed(self.layers):
            if windows and not any((w := rule.before(local, inc=True)) is not None
                                   and local < w + length for rule, length in windows):
                continue
            for person, rule, shift in turns:
                began = rule.before(local, inc=True)
                if began is not None and local < began + shift:
                    base = (person,)
                    break
            if base:
                break
        active = [o for o in self.overrides if o.start <= t < o.end]
        whole = [o.person for o in active if o.replaces is None]
        people = tuple(dict.fromkeys(whole)) if whole else base
        swaps = {o.replaces: o.person for o in active if o.replaces is not None}
        return tuple(dict.fromkeys(swaps.get(p, p) for p in people))

    def shifts(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
        lo, hi = start.astimezone(self.tz), end.astimezone(self.tz)
        points = {lo}
        for turns, windows in self.layers:
            for _, rule, shift in turns:
                for s in rule.between(lo - shift, hi):
                    points.update(p for p in (s, s + shift) if lo < p < hi)
            for rule, length in windows:
                for s in rule.between(lo - length, hi):
                    points.update(p for p in (s, s + length) if lo < p < hi)
        for o in self.overrides:
            points.update(p for p in (o.start, o.end) if lo < p < hi)
        ordered = sorted(points)
        out: list[tuple[datetime, datetime, str]] = []
        open_since: dict[str, datetime] = {}
        for a in ordered:
            people = self.on_call(a)
            for p in [p for p in open_since if p not in people]:
                out.append((open_since.pop(p), a, p))
            for p in people:
                open_since.setdefault(p, a)
        out.extend((s, hi, p) for p, s in open_since.items())
        return sorted(out)


def _per_call_us(fn: Callable[[Any], object], args: list[Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for a in args:
            fn(a)
        best = min(best, time.perf_counter() - t0)
    return best / len(args) * 1e6


def _row(name: str, ours: float, peer: float, target_us: float | None) -> dict[str, Any]:
    """Every row must be at least 10x faster than the peer; ``target_us`` adds an absolute bound."""
    ratio = peer / ours
    target = ">= 10x faster" + (f", <= {target_us:g} us" if target_us is not None else "")
    return {"benchmark": name, "ours_us": round(ours, 2), "peer_us": round(peer, 2),
            "ratio": round(ratio, 1), "target": target,
            "met": ratio >= 10 and (target_us is None or ours <= target_us)}


def run() -> list[dict[str, Any]]:
    rng = random.Random(20261125)
    overrides = make_overrides(rng)
    ours = ResolvedSchedule(SCHEDULE, overrides)
    peer = RRulePeer(SCHEDULE, overrides)
    seconds = int(SPAN.total_seconds())
    instants = [(START + timedelta(seconds=rng.randrange(seconds))).astimezone(UTC)
                for _ in range(20000)]
    for t in instants[:300]:  # same questions, same answers
        assert ours.on_call(t) == peer.on_call(t), t
    ours_us = _per_call_us(ours.on_call, instants)
    peer_us = _per_call_us(peer.on_call, instants[:300], repeat=1)
    rows = [_row("on_call(t): 3 layers, 200 overrides, 2 years", ours_us, peer_us, 50)]

    months = [START + timedelta(days=30 * i) for i in range(24)]

    def ours_month(m: datetime) -> list[Shift]:
        # Compiled once, as the daemon does per configuration snapshot (the peer's rules are too).
        return ours.shifts(m, m + timedelta(days=30))

    def peer_month(m: datetime) -> list[tuple[datetime, datetime, str]]:
        return peer.shifts(m, m + timedelta(days=30))

    for m in months[:3]:
        got = [(s.start, s.end, s.person) for s in ours_month(m)]
        assert got == peer_month(m), m
    ours_us = _per_call_us(ours_month, months)
    peer_us = _per_call_us(peer_month, months[:3], repeat=1)
    rows.append(_row("shifts(): one month (schedule compiled once, as per configuration snapshot)",
                     ours_us, peer_us, None))
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    head = "| benchmark | ours (µs) | peer: dateutil rrule (µs) | peer/ours | target | met |"
    lines = [head, "|---|---:|---:|---:|---|---|"]
    lines += [f"| {r['benchmark']} | {r['ours_us']} | {r['peer_us']} | {r['ratio']}× | "
              f"{r['target']} | {'yes' if r['met'] else 'NO'} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
