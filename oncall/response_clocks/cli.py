"""``oncall tickets [--at-risk] [--json]``: the tickets whose response clock is running, from
the service's database — with ``--at-risk`` only those past their warning share or due instant.

The clock is read once (the boundary); errors go to stderr with exit status 1."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from oncall.errors import OncallError
from oncall.response_clocks.model import Clock, at_risk
from oncall.response_clocks.store import ResponseClocks


def clock_json(c: Clock, now: datetime) -> dict[str, Any]:
    assert c.due is not None
    return {"source": c.source, "ticket_id": c.ticket_id, "desk": c.desk, "priority": c.priority.value,
            "customer": c.customer, "clock": c.kind.value, "started_at": c.started_at.isoformat(),
            "target": c.due.target, "warn_at": c.due.warn_at.isoformat(), "due_at": c.due.due_at.isoformat(),
            "at_risk": at_risk(c, now), "missed": now >= c.due.due_at,
            "warned_at": c.warned_at.isoformat() if c.warned_at else None}


def clock_line(c: Clock, now: datetime) -> str:
    assert c.due is not None
    left = c.due.due_at - now
    state = "MISSED" if left.total_seconds() <= 0 else ("at risk" if at_risk(c, now) else "running")
    minutes = int(abs(left.total_seconds()) // 60)
    span = f"{minutes // 60}h{minutes % 60:02d}m {'late' if state == 'MISSED' else 'left'}"
    return (f"{c.source}/{c.ticket_id:<12} {c.priority.value.upper():<7} {c.desk:<10} {c.kind.value} response "
            f"due {c.due.due_at.astimezone(UTC):%Y-%m-%d %H:%M}Z ({span}, target {c.due.target}) {state}")


def register(app: typer.Typer, open_engine: Callable[[], Engine]) -> None:
    """Add ``tickets`` to ``app``."""

    @app.command("tickets")
    def tickets(
        risky: Annotated[bool, typer.Option("--at-risk", help="only tickets past their warning share or due")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="JSON list")] = False,
    ) -> None:
        """List tickets whose response clock is running (first or next response owed)."""
        now = datetime.now(UTC)
        try:
            engine = open_engine()
            found = ResponseClocks(engine).running(before=now if risky else None)
            engine.dispose()
        except OncallError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        if as_json:
            typer.echo(json.dumps([clock_json(c, now) for c in found], indent=2))
            return
        if not found:
            typer.echo("no tickets at risk" if risky else "no response clocks running")
        for c in found:
            typer.echo(clock_line(c, now))
