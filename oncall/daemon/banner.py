"""What the daemon says when it is ready: the text banner for a person at a terminal, or the
same facts as one ``oncall started`` event for JSON logs; warnings for everything that
works differently than a production set-up would expect. Pure functions of their inputs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url

from oncall import __version__
from oncall.config.settings import Settings
from oncall.config.snapshot import Snapshot
from oncall.sources.settings import startup_warnings


def display_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by make_engine; just don't echo secrets
        return "<unparsable URL>"


def start_warnings(s: Settings, snap: Snapshot, *, blocked: Iterable[str], http_warning: str | None) -> list[str]:
    """``blocked``: people who texted STOP; ``http_warning``: the connection limit was lowered."""
    warnings = list(startup_warnings(dict(s.sources)))
    if not s.twilio.configured:
        warnings.insert(0, "NO TWILIO CREDENTIALS: pages are printed on this console, not sent to phones "
                           "(set ONCALL_TWILIO__ACCOUNT_SID, __AUTH_TOKEN, __FROM_NUMBER)")
    elif not s.public_url:
        warnings.append("ONCALL_PUBLIC_URL is not set: Twilio cannot deliver replies or status callbacks")
    if not s.api_token:
        warnings.append("ONCALL_API_TOKEN is not set: the HTTP API and calendar feeds are disabled")
    warnings += [str(w) for w in snap.warnings]
    warnings += [f"{p} texted STOP: SMS to them is blocked" for p in blocked]
    if http_warning:
        warnings.append(http_warning)
    return warnings


def startup_facts(s: Settings, snap: Snapshot, *, transport: str, pollers: Iterable[str],
                  warnings: list[str]) -> dict[str, Any]:
    """The banner's facts as one structured log event (JSON logs carry no free text)."""
    return {
        "version": __version__, "listen": f"http://{s.listen}", "public_url": s.public_url,
        "database": display_url(s.database_url), "config_dir": str(s.config), "transport": transport,
        "sources": sorted(s.sources), "pollers": sorted(pollers), "desks": len(snap.desks),
        "people": len(snap.people), "schedules": list(snap.schedules),
        "escalation_policies": len(snap.escalation_policies), "warnings": warnings,
    }


def banner_text(s: Settings, snap: Snapshot, *, transport: str, warnings: Sequence[str], now: datetime,
                instance: str = "") -> str:
    """The banner for a terminal; without Twilio, how to try the demo (as whoever is on call at ``now``)."""
    lines = [
        f"oncall {__version__} ready",
        f"  configuration : {s.config} — {len(snap.desks)} desk(s), {len(snap.people)} people, "
        f"{len(snap.schedules)} schedule(s), {len(snap.escalation_policies)} escalation policy(ies)",
        f"  schedules     : {', '.join(snap.schedules) or 'none'}",
        f"  database      : {display_url(s.database_url)}",
        f"  transport     : {transport}",
        f"  listening     : http://{s.listen}",
    ]
    if instance:
        lines.append(f"  instance      : {instance}")
    lines += [f"  WARNING       : {w}" for w in warnings]
    if not s.twilio.configured:
        first = next(iter(snap.schedules), None)
        who = (snap.on_call(first, now) or ("PERSON",))[0] if first else "PERSON"
        lines += [
            "  demo          : in another terminal, file a demo ticket:",
            "                    make demo-ticket   (a new ticket each time, signed with var/demo.env's secret;",
            "                    by hand: set -a; . var/demo.env; set +a;",
            "                             .venv/bin/oncall send-ticket examples/demo-ticket.json)",
            "                  the page is printed here; then acknowledge it, from the CLI or as a text reply:",
            f"                    .venv/bin/oncall incidents --open && .venv/bin/oncall ack 1 --as {who}",
            f"                    .venv/bin/oncall sms-reply {who} ack",
        ]
        if s.console.enabled:
            lines += [f"                  or on the web: http://{s.listen}/ (sign in with a one-time link:",
                      f"                    .venv/bin/oncall login-link {who}  then press Acknowledge)"]
    return "\n".join(lines)
