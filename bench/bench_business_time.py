"""Benchmark: oncall.desks business time against pandas' CustomBusinessHour.

The same desk (America/New_York, Mon–Fri 08:00–16:00, the six usual US holidays with their
observed days), the same seeded random instants in 2026–2027. pandas is asked the same
questions: ``offset.is_on_offset(ts)``, ``offset.rollforward(ts)`` and ``ts + 8 * offset``.
``run()`` returns one row per question; ``python bench/bench_business_time.py`` prints them
as a Markdown table, with how often both libraries gave the same answer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from oncall.desks import Desk, add_business_time, holiday_name, is_open, next_open

NY = ZoneInfo("America/New_York")
SEED = 20261101
OURS_N = 20_000
PEER_N = 2_000
TARGET_RATIO = 10.0
EIGHT_HOURS = timedelta(hours=8)

DESK = Desk.model_validate({
    "id": "bench",
    "timezone": "America/New_York",
    "hours": {"mon-fri": "08:00-16:00"},
    "holidays": {"country": "US", "only": ["New Year's Day", "Memorial Day", "Independence Day",
                                           "Labor Day", "Thanksgiving", "Christmas Day"]},
})


def _holiday_dates() -> list[date]:
    day, end, found = date(2025, 12, 1), date(2029, 1, 31), []
    while day <= end:
        if holiday_name(DESK, day) is not None:
            found.append(day)
        day += timedelta(days=1)
    return found


def _instants(n: int) -> list[datetime]:
    rng = random.Random(SEED)
    start = datetime(2026, 1, 1, tzinfo=NY).timestamp()
    span = 2 * 365 * 86400
    return [datetime.fromtimestamp(start + rng.randrange(span), NY) for _ in range(n)]


def _per_call_us(fn: Callable[[Any], object], inputs: Sequence[Any]) -> float:
    for x in inputs[:50]:  # warm caches and lookup tables
        fn(x)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for x in inputs:
            fn(x)
        best = min(best, time.perf_counter() - began)
    return best / len(inputs) * 1e6


def _setup() -> tuple[list[datetime], list[pd.Timestamp], Any, Any]:
    holidays = _holiday_dates()
    hour = pd.offsets.CustomBusinessHour(start="08:00", end="16:00", holidays=holidays)
    eight = pd.offsets.CustomBusinessHour(n=8, start="08:00", end="16:00", holidays=holidays)
    ours = _instants(OURS_N)
    peer = [pd.Timestamp(t) for t in ours[:PEER_N]]
    return ours, peer, hour, eight


def run() -> list[dict[str, Any]]:
    ours, peer, hour, eight = _setup()
    cases: list[tuple[str, Callable[[Any], object], Callable[[Any], object]]] = [
        ("is_open", lambda t: is_open(DESK, t), hour.is_on_offset),
        ("next_open", lambda t: next_open(DESK, t), hour.rollforward),
        ("add_business_time(8h)", lambda t: add_business_time(DESK, t, EIGHT_HOURS),
         lambda ts: ts + eight),
    ]
    rows = []
    for name, ours_fn, peer_fn in cases:
        ours_us = _per_call_us(ours_fn, ours)
        peer_us = _per_call_us(peer_fn, peer)
        ratio = peer_us / ours_us
        rows.append({
            "benchmark": name,
            "ours_us": round(ours_us, 2),
            "peer_us": round(peer_us, 2),
            "ratio": round(ratio, 1),
            "target": f">= {TARGET_RATIO:g}x faster",
            "met": ratio >= TARGET_RATIO,
        })
    return rows


def _same_deadline(ours: datetime, peer: datetime) -> bool:
    """A deadline landing exactly on a closing time is that closing time for oncall; pandas
    moves it to the next opening. Both name the same business instant."""
    return ours == peer or (not is_open(DESK, ours) and next_open(DESK, ours) == peer)


def agreement() -> dict[str, float]:
    """Share of instants where both libraries answer the same (a sanity check, not a target)."""
    ours, peer, hour, eight = _setup()
    pairs = list(zip(ours[:PEER_N], peer, strict=True))
    same_open = sum(is_open(DESK, t) == bool(hour.is_on_offset(ts)) for t, ts in pairs)
    same_next = sum(next_open(DESK, t) == hour.rollforward(ts).to_pydatetime() for t, ts in pairs)
    same_add = sum(_same_deadline(add_business_time(DESK, t, EIGHT_HOURS),
                                  (ts + eight).to_pydatetime()) for t, ts in pairs)
    return {"is_open": same_open / PEER_N, "next_open": same_next / PEER_N,
            "add_business_time(8h)": same_add / PEER_N}


def _markdown(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(_markdown(run()))
    print()
    for name, share in agreement().items():
        print(f"agreement with pandas, {name}: {share:.1%}")
