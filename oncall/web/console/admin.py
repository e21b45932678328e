"""Admin pages: configuration status, helpdesk sources, transports, recent admin alerts, and
Explain (the ``oncall explain`` command in the browser)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import desc, select
from starlette.responses import Response

from oncall.errors import OncallError
from oncall.explain import explanation_json
from oncall.instants import InstantError
from oncall.rules import TicketEvent, decide
from oncall.store.tables import cursors, ticket_events
from oncall.tickets import load_ticket_text, parse_ticket
from oncall.web.console.core import Console, Ctx
from oncall.web.console.oncall_pages import parse_local

ALERT_PREFIX = "alert:"
ALERT_KINDS = {"silent": "ticket source silent", "gap": "coverage gap", "reload": "configuration edit refused",
               "stop": "SMS blocked (STOP)", "transport": "transport failing", "vocab": "unknown ticket values"}


def config_files(directory: Path) -> list[tuple[str, datetime]]:
    found = []
    for path in sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml"), *directory.glob("oncall.toml")]):
        if any(part.startswith(".") for part in path.relative_to(directory).parts):
            continue
        try:
            found.append((str(path.relative_to(directory)), datetime.fromtimestamp(path.stat().st_mtime).astimezone()))
        except OSError:
            continue
    return found


def recent_alerts(console: Console, limit: int = 25) -> list[dict[str, Any]]:
    with console.deps.engine.connect() as conn:
        rows = conn.execute(select(cursors.c.name, cursors.c.updated_at).where(cursors.c.name.startswith(ALERT_PREFIX))
                            .order_by(desc(cursors.c.updated_at)).limit(limit)).all()
    out = []
    for name, at in rows:
        key = str(name).removeprefix(ALERT_PREFIX)
        kind = key.split(":", 1)[0]
        out.append({"at": at, "kind": ALERT_KINDS.get(kind, kind), "key": key})
    return out


def admin_page(console: Console, ctx: Ctx) -> Response:
    snap = console.deps.snapshot()
    now = console.deps.clock()
    checks = []
    for name, check in console.deps.readiness.items():
        try:
            ok, detail = check()
        except Exception as exc:  # a status page must render whatever broke
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        checks.append({"name": name, "ok": ok, "detail": detail})
    health = console.deps.source_health
    statuses = {s.source: s for s in health.snapshot()} if health else {}
    silent = dict(health.silent_sources(now)) if health else {}
    sources = []
    for name, conf in sorted(console.deps.settings.sources.items()):
        st = statuses.get(name)
        sources.append({"name": name, "kind": str(conf.kind_for(name) or "generic"),
                        "secret": conf.secret is not None, "insecure": conf.insecure,
                        "poll_interval": conf.poll_interval, "silence_after": conf.silence_after,
                        "last_webhook": st.last_traffic if st else None, "last_poll": st.last_success if st else None,
                        "last_error": st.last_error if st else None, "silent_since": silent.get(name)})
    tw = console.deps.settings.twilio
    transport = {"name": console.deps.transport_name or type(console.deps.transport).__name__,
                 "channels": sorted(c.value for c in console.deps.transport.channels()),
                 "healthy": bool(getattr(console.deps.transport, "healthy", True)), "twilio": tw.configured,
                 "public_url": console.deps.settings.public_url}
    return console.render(ctx, "admin.html", snap=snap, title="Admin", checks=checks, sources=sources,
                          transport=transport, alerts=recent_alerts(console), files=config_files(snap.config_dir),
                          reload_error=console.deps.last_reload_error(), overrides=console.deps.overrides.history(10))


def recent_tickets(console: Console, limit: int = 50) -> list[Any]:
    with console.deps.engine.connect() as conn:
        return list(conn.execute(select(ticket_events.c.id, ticket_events.c.source, ticket_events.c.ticket_id,
                                        ticket_events.c.received_at, ticket_events.c.outcome)
                                 .order_by(desc(ticket_events.c.id)).limit(limit)).all())


def explain_page(console: Console, ctx: Ctx) -> Response:
    """GET: the form. POST: the decision for a pasted ticket or a stored one, at a chosen instant."""
    snap = console.deps.snapshot()
    assert ctx.viewer is not None
    tz = ctx.viewer.person.timezone
    now = console.deps.clock()
    f = ctx.form
    result = error = None
    ticket = None
    if ctx.request.method == "POST":
        try:
            stored = f.get("stored", "").strip()
            if stored:
                with console.deps.engine.connect() as conn:
                    row = conn.execute(select(ticket_events).where(ticket_events.c.id == int(stored))).first()
                if row is None:
                    raise InstantError(f"no stored ticket event #{stored}")
                ticket = parse_ticket(row.ticket_json)
            else:
                ticket = load_ticket_text(f.get("ticket", ""))
            at_text = f.get("at", "").strip()
            when = parse_local(at_text, tz, now, "instant") if at_text else ticket.created_at
            event = TicketEvent(f.get("event", "created"))
            decision = decide(ticket, event, snap, when)
            # As `oncall explain` says it: how the ticket was read, then the decision's reasons.
            result = {"decision": decision, "when": when, "ticket": ticket,
                      "reasons": [*ticket.notes(), *decision.reasons],
                      "json": json.dumps(explanation_json(decision, ticket), indent=2)}
        except (OncallError, InstantError, ValueError) as exc:
            error = str(exc)
    return console.render(ctx, "explain.html", status=422 if error else 200, snap=snap, title="Explain",
                          result=result, error=error, form=f, tickets=recent_tickets(console),
                          events=[e.value for e in TicketEvent])
