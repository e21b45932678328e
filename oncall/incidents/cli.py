"""CLI commands over :class:`IncidentService`:

``oncall incidents [--open] [--json]`` · ``oncall incidents show ID [--json]`` ·
``oncall ack|escalate|resolve ID [--as PERSON]``.

The CLI reads the clock once per command (the boundary); errors go to stderr with
exit status 1 and no traceback.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from oncall.errors import OncallError, UnknownActor
from oncall.incidents.model import Incident
from oncall.incidents.service import IncidentService
from oncall.store.db import open_existing

AsOption = Annotated[str | None, typer.Option(
    "--as", help="person id recorded as the actor (default: $ONCALL_ACTOR or your login)")]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except UnknownActor as exc:
        typer.echo(f"error: {exc} (use --as PERSON)", err=True)
        raise typer.Exit(1) from None
    except OncallError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _actor(given: str | None) -> str:
    return given or os.environ.get("ONCALL_ACTOR") or getpass.getuser()


def _when(t: datetime | None) -> str:
    """In the reader's zone (``TZ``), with the offset, so the text is one instant everywhere."""
    if t is None:
        return "-"
    local = t.astimezone()
    return f"{local.isoformat(sep=' ', timespec='minutes')} {local.tzname()}"


def _line(inc: Incident) -> str:
    ack = f" by {inc.acknowledged_by}" if inc.acknowledged_by else ""
    return (f"#{inc.id:<5} {inc.state.value + ack:<26} {inc.source}/{inc.ticket_id:<14} "
            f"{inc.priority:<7} {_when(inc.created_at)}  {inc.subject[:50]}")


def open_service_from_settings(settings: Any, load_snapshot: Callable[[], Any]
                               ) -> IncidentService:
    """The service over the existing database at ``settings.database_url`` (never a new one:
    raises :class:`StoreError` saying where it looked); the configuration is loaded only
    when an operation needs it (listing incidents works with a broken config)."""
    from oncall.config.settings import database_origin
    from oncall.directory import SnapshotDirectory  # the lead's snapshot adapter
    from oncall.escalation.directory import Directory

    engine = open_existing(settings.database_url, origin=database_origin(settings))
    loaded: list[Directory] = []

    def directory() -> Directory:
        if not loaded:
            loaded.append(SnapshotDirectory(load_snapshot()))
        return loaded[0]

    return IncidentService(engine, directory)


def register(app: typer.Typer, open_service: Callable[[], IncidentService]) -> None:
    """Add ``incidents`` (with ``show``), ``ack``, ``escalate`` and ``resolve`` to ``app``."""
    group = typer.Typer(help="List incidents, or show one with its audit log.",
                        no_args_is_help=False)

    @group.callback(invoke_without_command=True)
    def incidents(
        ctx: typer.Context,
        open_only: Annotated[bool, typer.Option("--open", help="only open incidents")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="JSON list")] = False,
    ) -> None:
        if ctx.invoked_subcommand is not None:
            return
        with _errors():
            found = open_service().list(open_only=open_only)
        if as_json:
            typer.echo(json.dumps([i.to_json() for i in found], indent=2))
            return
        if not found:
            typer.echo("no open incidents" if open_only else "no incidents")
        for inc in found:
            typer.echo(_line(inc))

    @group.command("show")
    def show(incident_id: Annotated[int, typer.Argument(metavar="ID")],
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """One incident: state, escalation position, audit log and notification ledger."""
        with _errors():
            service = open_service()
            inc = service.get(incident_id)
            entries = service.audit(incident_id)
            ledger = service.ledger(incident_id)
        if as_json:
            typer.echo(json.dumps({**inc.to_json(), "audit": [e.to_json() for e in entries],
                                   "notifications": [
                                       {"id": n.id, "person_id": n.person_id,
                                        "channel": n.channel, "address": n.address,
                                        "status": n.status, "attempt": n.attempt,
                                        "resend_of": n.resend_of,
                                        "created_at": n.created_at.isoformat()}
                                       for n in ledger]}, indent=2))
            return
        typer.echo(_line(inc))
        typer.echo(f"policy {inc.policy_id}, round {inc.round + 1}, step {inc.step + 1}, "
                   f"next action {_when(inc.next_action_at)}"
                   + (" (policy exhausted)" if inc.exhausted else ""))
        typer.echo("\naudit:")
        for e in entries:
            extra = " ".join(x for x in (e.channel, e.outcome) if x)
            typer.echo(f"  {_when(e.at)}  {e.kind:<20} {e.actor:<10} {extra:<16} "
                       f"{e.reason or ''}".rstrip())
        typer.echo("\nnotifications:")
        for n in ledger:
            resend = f" resend of {n.resend_of}" if n.resend_of else ""
            typer.echo(f"  {_when(n.created_at)}  {n.person_id:<10} {n.channel:<6} "
                       f"{n.address:<16} {n.status:<10} attempt {n.attempt}{resend}")

    app.add_typer(group, name="incidents")

    def _act(verb: str, call: Callable[[IncidentService, int, str, datetime], Incident]
             ) -> Callable[[int, str | None], None]:
        def command(incident_id: Annotated[int, typer.Argument(metavar="ID")],
                    actor: AsOption = None) -> None:
            with _errors():
                inc = call(open_service(), incident_id, _actor(actor), datetime.now(UTC))
            typer.echo(f"incident #{inc.id} {verb} by {_actor(actor)}: now {inc.state.value}")

        return command

    app.command("ack", help="Acknowledge an incident: stops its escalation.")(_act(
        "acknowledged", lambda s, i, a, now: s.ack(i, a, now, via="cli")))
    app.command("escalate", help="Page the next escalation step now.")(_act(
        "escalated", lambda s, i, a, now: s.escalate(i, a, now, via="cli")))
    app.command("resolve", help="Resolve an incident.")(_act(
        "resolved", lambda s, i, a, now: s.resolve(i, a, now, via="cli")))
