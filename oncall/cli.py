"""The ``oncall`` command line: a thin layer over the library's functions.

Errors in the user's input (configuration, ticket files, arguments) are printed to
stderr with a non-zero exit status; never a traceback.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from oncall.errors import ConfigError, OncallError

app = typer.Typer(
    name="oncall",
    help="After-hours emergency paging for support teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class _State:
    config: Path | None = None


state = _State()


def now_utc() -> datetime:
    """The one place the CLI reads the wall clock."""
    return datetime.now(UTC)


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"oncall: {message}", err=True)
    return typer.Exit(code)


def parse_instant(value: str | None, *, option: str = "--at") -> datetime | None:
    if value is None:
        return None
    if value.strip().lower() == "now":
        return now_utc()
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"{option}: {value!r} is not an ISO-8601 timestamp (e.g. 2026-11-28T03:00:00-05:00)") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise fail(f"{option}: {value!r} has no time zone offset (add e.g. Z or -05:00)")
    return t


def settings() -> Any:
    from oncall.config.settings import load_settings

    try:
        return load_settings(state.config)
    except ConfigError as exc:
        raise fail(f"invalid settings:\n{exc}") from None


def load_snapshot(now: datetime | None = None) -> Any:
    """Load the configuration or exit with every error printed."""
    from datetime import timedelta

    from oncall.config.loader import load

    s = settings()
    try:
        return load(s.config, now=now or now_utc(), horizon=timedelta(days=s.coverage_horizon_days))
    except ConfigError as exc:
        raise fail(f"configuration in {s.config} is invalid:\n{exc}") from None


@app.callback()
def main_callback(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Configuration directory (default ./schedules, or $ONCALL_CONFIG).",
                     file_okay=False),
    ] = None,
) -> None:
    state.config = config


@app.command()
def check(
    days: Annotated[int | None, typer.Option(help="Coverage-gap horizon in days (default 28).")] = None,
) -> None:
    """Validate the whole configuration; list every problem with file, line and reason."""
    from datetime import timedelta

    from oncall.config.loader import check as run_check

    s = settings()
    horizon = timedelta(days=days or s.coverage_horizon_days)
    snapshot, issues = run_check(s.config, now=now_utc(), horizon=horizon)
    for issue in issues:
        typer.echo(str(issue), err=issue.severity == "error")
    errors = [i for i in issues if i.severity == "error"]
    if snapshot is None or errors:
        typer.echo(f"oncall: {len(errors)} error(s) in {s.config}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"{s.config}: OK — {len(snapshot.desks)} desk(s), {len(snapshot.customers)} customer(s), "
        f"{len(snapshot.rules)} rule(s), {len(snapshot.people)} people, {len(snapshot.schedules)} schedule(s), "
        f"{len(snapshot.escalation_policies)} escalation policy(ies)"
        + (f", {len(issues)} warning(s)" if issues else "")
    )


@app.command()
def explain(
    ticket_file: Annotated[
        Path, typer.Argument(metavar="TICKET.json", help="A ticket in the generic JSON form ('-' for stdin).")],
    at: Annotated[str | None, typer.Option(
        "--at", help="Evaluate as if it arrived at this instant (ISO-8601; default: its created_at).")] = None,
    event: Annotated[str, typer.Option(help="Ticket event: created, priority_raised, reopened, updated.")] = "created",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Explain whether a ticket must page, and why."""
    from oncall.rules import TicketEvent, decide, format_decision
    from oncall.tickets import load_ticket_text

    try:
        text = sys.stdin.read() if str(ticket_file) == "-" else ticket_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{ticket_file}: cannot read: {exc}") from None
    try:
        ticket = load_ticket_text(text)
    except OncallError as exc:
        raise fail(f"{ticket_file}: invalid ticket: {exc}") from None
    try:
        ev = TicketEvent(event)
    except ValueError:
        raise fail(f"--event: {event!r} is not one of {', '.join(e.value for e in TicketEvent)}") from None
    when = parse_instant(at) or ticket.created_at
    snapshot = load_snapshot(when)
    decision = decide(ticket, ev, snapshot, when)
    if as_json:
        typer.echo(json.dumps(decision.to_json(), indent=2))
    else:
        typer.echo(f"ticket {ticket.id} ({ticket.source}) at {when.isoformat()}:")
        typer.echo(format_decision(decision))


@app.command()
def schema() -> None:
    """Print the JSON Schema of configuration files (for editors)."""
    from oncall.config.sections import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


def _register_optional() -> None:
    """Commands that live with their packages."""
    try:
        from oncall.schedules.cli import register as register_schedules
    except ImportError:  # pragma: no cover - during development only
        pass
    else:
        register_schedules(app, load_snapshot)
    try:
        from oncall.incidents.cli import register as register_incidents
    except ImportError:  # pragma: no cover
        pass
    else:
        register_incidents(app, _open_service)


def _open_service() -> Any:
    from oncall.incidents.cli import open_service_from_settings

    return open_service_from_settings(settings(), load_snapshot)


_register_optional()


def main() -> None:
    try:
        app()
    except OncallError as exc:
        typer.echo(f"oncall: {exc}", err=True)
        sys.exit(2)
