"""Console benchmark: how long its pages take to render with 10,000 incidents in the database.

The database (SQLite) holds ``BENCH_CONSOLE_INCIDENTS`` incidents (default 10,000; one in
twenty open), each with three audit records and a ticket event, as a busy year leaves it. The
console is the real one (routes, sign-in cookie, templates), served in-process through its
ASGI app; each page is fetched ``BENCH_CONSOLE_REPEAT`` times (default 50) after a warm-up,
and the table gives p50 / p99 / max of the server's time per request.

Run: ``python -m bench.bench_console`` (prints a Markdown table, ~20 s).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from oncall.config.loader import load
from oncall.config.settings import Settings
from oncall.config.snapshot import with_stored_overrides
from oncall.directory import SnapshotDirectory
from oncall.escalation.state import new_state, state_to_json
from oncall.incidents.service import IncidentService
from oncall.schedules.stored_overrides import StoredOverrides
from oncall.store.db import make_engine, upgrade
from oncall.store.tables import audit, incidents, ticket_events
from oncall.testing.paging import RecordingTransport
from oncall.web.app import build_app
from oncall.web.console.core import ConsoleDeps
from oncall.web.console.routes import build_console, console_routes

INCIDENTS = int(os.environ.get("BENCH_CONSOLE_INCIDENTS", "10000"))
REPEAT = int(os.environ.get("BENCH_CONSOLE_REPEAT", "50"))
CONFIG = Path(__file__).resolve().parent.parent / "schedules"
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
PAGES = ["/", "/?state=all", "/?state=all&page=100", "/?state=resolved&customer=acme", "/incidents/{last}",
         "/incidents/1", "/oncall", "/shifts", "/overrides", "/admin"]
Row = dict[str, Any]


def seed(engine: Any, count: int) -> None:
    """``count`` incidents over the past year, newest last; every twentieth still open."""
    policy = {"id": "emergency", "steps": [{"targets": [{"schedule": "emergency"}], "contact": "sms", "delay": 300}]}
    rows, events, records = [], [], []
    for i in range(1, count + 1):
        created = NOW - timedelta(minutes=53 * (count - i))
        state = "triggered" if i % 20 == 0 else "resolved"
        rows.append({"id": i, "source": "generic", "ticket_id": f"T-{i}", "state": state, "policy_id": "emergency",
                     "policy_json": policy, "engine_state": state_to_json(new_state(i, created)), "round": 0, "step": 0,
                     "created_at": created, "updated_at": created, "resolved_at": None if state == "triggered" else
                     created + timedelta(minutes=20), "priority": "urgent", "customer": ("acme", "demo")[i % 2],
                     "subject": f"Production down #{i}", "version": 1})
        events.append({"source": "generic", "ticket_id": f"T-{i}", "event_key": f"k{i}", "received_at": created,
                       "ticket_json": {"id": f"T-{i}", "source": "generic", "subject": f"Production down #{i}",
                                       "priority": "urgent", "customer": ("acme", "demo")[i % 2],
                                       "created_at": created.isoformat()}, "processed_at": created,
                       "outcome": "paged: rule demo-always-pages"})
        for k, kind in enumerate(("triggered", "step_fired", "resolved" if state == "resolved" else "notification")):
            records.append({"incident_id": i, "at": created + timedelta(minutes=k), "actor": "erin", "channel": "sms",
                            "kind": kind, "outcome": None, "reason": None})
    with engine.begin() as conn:
        conn.execute(insert(incidents), rows)
        conn.execute(insert(ticket_events), events)
        conn.execute(insert(audit), records)


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'oncall.db'}"
        engine = make_engine(url)
        upgrade(engine)
        seed(engine, INCIDENTS)
        settings = Settings(config=CONFIG, database_url=url)
        store = StoredOverrides(engine)
        snap = with_stored_overrides(load(CONFIG, now=NOW, horizon=timedelta(days=28)), store.live())
        service = IncidentService(engine, lambda: SnapshotDirectory(snap))
        deps = ConsoleDeps(service=service, snapshot=lambda: snap, engine=engine, clock=lambda: NOW,
                           settings=settings, transport=RecordingTransport(), overrides=store)
        console = build_console(deps)
        app = build_app(console_routes(deps, console))
        cookie = console.signer.session_cookie("gina", NOW + timedelta(hours=1))
        rows = asyncio.run(_measure(app, cookie))
        engine.dispose()
    return rows


async def _measure(app: Any, cookie: str) -> list[Row]:
    rows: list[Row] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                                 cookies={"oncall_session": cookie, "oncall_csrf": "bench"}) as client:
        for path in PAGES:
            target = path.format(last=INCIDENTS)
            first = await client.get(target)
            assert first.status_code == 200, (target, first.status_code, first.text[:300])
            times = []
            for _ in range(REPEAT):
                started = time.perf_counter()
                response = await client.get(target)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            times.sort()
            rows.append({"case": f"GET {target}", "incidents": INCIDENTS, "p50_ms": statistics.median(times),
                         "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))], "max_ms": times[-1],
                         "kb": round(len(first.content) / 1024, 1), "under_100ms": times[-1] < 100})
    return rows


if __name__ == "__main__":
    from bench.__main__ import fmt

    result = run()
    keys = list(result[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in result:
        print("| " + " | ".join(fmt(row[k]) for k in keys) + " |")
