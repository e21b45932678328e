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
    from oncall.instants import InstantError
    from oncall.instants import parse_instant as parse

    if value is None:
        return None
    try:
        return parse(value, now_utc())
    except InstantError as exc:
        raise fail(f"{option}: {exc}") from None


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


def _print_version(value: bool) -> None:
    if value:
        from oncall import __version__

        typer.echo(f"oncall {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
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

    from oncall.config.checks import DEFAULT_CHECKS
    from oncall.config.loader import check as run_check
    from oncall.config.snapshot import Snapshot
    from oncall.findings import Finding
    from oncall.notify.channels import address_findings

    s = settings()
    horizon = timedelta(days=days or s.coverage_horizon_days)

    def addresses(snapshot: Snapshot, _now: object, _horizon: object) -> list[Finding]:
        """Addresses only the settings can judge: a chat address naming an unknown webhook."""
        return address_findings(snapshot.items["people"], s)

    snapshot, issues = run_check(s.config, now=now_utc(), horizon=horizon, checks=(*DEFAULT_CHECKS, addresses))
    if snapshot is not None:
        issues += _blocked_phone_warnings(s, snapshot)
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
    from oncall.escalation.alerting import describe_admin_alerts

    alerts = snapshot.notifications
    for line in describe_admin_alerts(alerts.admins, alerts.admin_alerts, snapshot.people):
        typer.echo(line)
    for person in snapshot.people.values():
        if person.notify:  # the others are paged as each step's contact says
            typer.echo(person.describe_notify())


def _blocked_phone_warnings(s: Any, snapshot: Any) -> list[Any]:
    """People who texted STOP (state in the database, if there is one yet)."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from oncall.alerts import SMS_BLOCKED
    from oncall.errors import ConfigIssue
    from oncall.store.db import make_engine
    from oncall.store.tables import cursors

    url = make_url(s.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return []
    try:
        engine = make_engine(s.database_url)
        with engine.connect() as conn:
            rows = conn.execute(select(cursors.c.name).where(
                cursors.c.name.startswith(SMS_BLOCKED), cursors.c.value == "1")).all()
        engine.dispose()
    except SQLAlchemyError as exc:
        return [ConfigIssue(file=str(s.database_url), severity="warning",
                            message=f"could not read blocked phones from the database: {type(exc).__name__}")]
    return [ConfigIssue(file=f"{s.config}/people", severity="warning",
                        message=f"person {r.name.removeprefix(SMS_BLOCKED)!r} texted STOP: SMS pages to them are "
                                "blocked until they text START (they are called instead)")
            for r in rows if r.name.removeprefix(SMS_BLOCKED) in snapshot.people]


@app.command()
def explain(
    ticket_file: Annotated[
        Path, typer.Argument(metavar="TICKET.json", help="A ticket in the generic JSON form ('-' for stdin).")],
    at: Annotated[str | None, typer.Option(
        "--at", help="Evaluate as if it arrived at this instant (ISO-8601; default: its created_at).")] = None,
    event: Annotated[str, typer.Option(help="Ticket event: created, priority_raised, reopened, updated.")] = "created",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    source: Annotated[str | None, typer.Option(
        help="Read the file as this source's webhook body (e.g. zendesk: a trigger body or an event).")] = None,
) -> None:
    """Explain whether a ticket must page, and why (and how the ticket was read)."""
    from oncall.explain import explanation_json, explanation_text, read_vendor_body, resolve
    from oncall.rules import TicketEvent, decide
    from oncall.sources.payload import IgnoredEvent
    from oncall.tickets import load_ticket_text

    try:
        raw = sys.stdin.buffer.read() if str(ticket_file) == "-" else ticket_file.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{ticket_file}: cannot read: {exc}") from None
    try:
        ev = TicketEvent(event)
    except ValueError:
        raise fail(f"--event: {event!r} is not one of {', '.join(e.value for e in TicketEvent)}") from None
    given = parse_instant(at)
    s = settings()
    snapshot = None
    try:
        if source is None:
            ticket = load_ticket_text(text)
        else:
            snapshot = load_snapshot(given)
            name = source.lower()
            ticket = read_vendor_body(raw, name, s.sources, snapshot.source_mappings.get(name), given or now_utc())
    except IgnoredEvent as exc:
        raise fail(f"{ticket_file}: the daemon acknowledges this and stores nothing: {exc.reason}", 1) from None
    except OncallError as exc:
        raise fail(f"{ticket_file}: invalid ticket: {exc}") from None
    when = given or ticket.created_at
    snapshot = snapshot or load_snapshot(when)
    ticket = resolve(ticket, s.sources, snapshot.source_mappings, now_utc())
    decision = decide(ticket, ev, snapshot, when)
    paging = _paging_preview(decision, snapshot, when)
    if as_json:
        typer.echo(json.dumps(explanation_json(decision, ticket) | paging.to_json(), indent=2))
    else:
        typer.echo(f"ticket {ticket.id} ({ticket.source}) at {when.isoformat()}:")
        typer.echo(explanation_text(decision, ticket))
        if decision.page:
            typer.echo("\n".join(paging.lines()))


def _paging_preview(decision: Any, snapshot: Any, when: datetime) -> Any:
    """Who a paging decision would reach at ``when`` (overrides made on the web included)."""
    from oncall.config.snapshot import with_stored_overrides
    from oncall.directory import SnapshotDirectory
    from oncall.escalation.preview import PagingPreview, preview_page

    policy = snapshot.escalation_policies.get(decision.escalation_policy or "")
    if not decision.page or policy is None:
        return PagingPreview()
    store = _stored_overrides(False)
    merged = with_stored_overrides(snapshot, store.live()) if store is not None else snapshot
    return preview_page(policy, SnapshotDirectory(merged), when, snapshot.desks[decision.desk].timezone)


@app.command()
def schema() -> None:
    """Print the JSON Schema of one configuration file (for editors and check-jsonschema)."""
    from oncall.config.schema import config_file_schema

    typer.echo(json.dumps(config_file_schema(), indent=2))


@app.command()
def run(
    role: Annotated[str | None, typer.Option(
        "--role", help="What to run: all (default: the web server here, the worker in a child process it "
                       "supervises), web (HTTP only) or worker (the duties only); also ONCALL_ROLE.")] = None,
    link_fd: Annotated[int | None, typer.Option("--link-fd", hidden=True)] = None,
    parent: Annotated[int | None, typer.Option("--parent", hidden=True)] = None,
    instance: Annotated[str | None, typer.Option("--instance", hidden=True)] = None,
) -> None:
    """Run the daemon: webhooks, escalation engine, pollers, health and metrics."""
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from oncall import logs
    from oncall.daemon import display_url
    from oncall.daemon.processes import start_daemon

    supervised = link_fd is not None
    if supervised:  # `oncall run`'s worker child: dies with its parent
        from oncall.worker_child import die_with_parent

        die_with_parent(parent or 0)
    s = settings()
    chosen = (role or s.role).lower()
    if chosen not in ("all", "web", "worker") or (supervised and chosen != "worker"):
        raise fail(f"--role must be all, web or worker, not {chosen!r}")
    logs.configure(s.log_format, s.log_level)
    logs.capture_uncaught()

    def refuse(message: str) -> typer.Exit:
        if not logs.renders_json():
            return fail(message, 1)
        logs.get("oncall.cli").critical("oncall not started", reason=message)  # JSON lines only
        return typer.Exit(1)

    try:
        started = start_daemon(s, chosen, now=now_utc(), config=str(state.config) if state.config else None,
                               link_fd=link_fd, instance_id=instance)
    except ConfigError as exc:
        raise refuse(f"configuration in {s.config} is invalid, not starting:\n{exc}") from None
    except SQLAlchemyError as exc:
        raise refuse(f"database {display_url(s.database_url)} unusable: {exc.__class__.__name__}: "
                     f"{str(exc).splitlines()[0]}") from None
    except OncallError as exc:
        raise refuse(str(exc)) from None
    try:
        code = asyncio.run(started.daemon.run())
    finally:
        started.release()
    raise typer.Exit(code)


@app.command("send-ticket")
def send_ticket(
    ticket_file: Annotated[Path, typer.Argument(metavar="FILE", help="The webhook body to send ('-' for stdin).")],
    source: Annotated[str, typer.Option(help="Source name: generic, zendesk, freshdesk, jira…")] = "generic",
    url: Annotated[str | None, typer.Option(help="Daemon base URL (default http://ONCALL_LISTEN).")] = None,
) -> None:
    """Sign a ticket with the source's configured secret and post it to the running daemon."""
    import httpx

    from oncall.sources.registry import helpdesk_for

    s = settings()
    try:
        body = sys.stdin.buffer.read() if str(ticket_file) == "-" else ticket_file.read_bytes()
    except OSError as exc:
        raise fail(f"{ticket_file}: cannot read: {exc}") from None
    conf = s.sources.get(source.lower())
    headers = {"Content-Type": "application/json"}
    if conf is not None and conf.secret is not None:
        headers |= helpdesk_for(source, conf).sign(conf.secret.get_secret_value(), body, now=now_utc())
    elif conf is None or not conf.insecure:
        raise fail(f"source {source!r} has no secret: set ONCALL_SOURCES__{source.upper()}__SECRET")
    target = f"{(url or 'http://' + s.listen).rstrip('/')}/webhooks/tickets/{source}"
    try:
        response = httpx.post(target, content=body, headers=headers, timeout=15.0)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the daemon at {target}: {exc}") from None
    typer.echo(f"{response.status_code} {response.text}")
    if response.status_code >= 300:
        raise typer.Exit(1)


@app.command("sms-reply")
def sms_reply(
    person: Annotated[str, typer.Argument(help="Person id whose phone the reply comes from.")],
    text: Annotated[str, typer.Argument(help="The reply, e.g. '1a', 'ack', 'esc 2', 'aa'.")],
) -> None:
    """Act as if PERSON texted TEXT back: the SMS reply path without a phone (the demo's
    console transport, or a test). Prints the answer the person would get."""
    from oncall.alerts import AdminAlerts
    from oncall.directory import SnapshotDirectory
    from oncall.inbound_adapter import ServiceInbound
    from oncall.notify.composite import build_transport
    from oncall.notify.sms_dialogue import answer_sms

    snapshot = load_snapshot()
    found = snapshot.people.get(person)
    if found is None:
        raise fail(f"unknown person {person!r} (known: {', '.join(sorted(snapshot.people))})")
    if not found.phone:
        raise fail(f"person {person!r} has no phone number")
    service = _open_service()
    transport, _ = build_transport(settings())
    directory = SnapshotDirectory(snapshot)
    inbound = ServiceInbound(service, service.engine, lambda: directory,
                             AdminAlerts(service.engine, transport, lambda: snapshot))
    answer = answer_sms(inbound, found.phone, text, now_utc())
    typer.echo(answer if answer is not None else "(no answer: the carrier confirms STOP itself)")


@app.command("test-page")
def test_page(
    person: Annotated[str, typer.Argument(help="Person id from the configuration.")],
    voice: Annotated[bool, typer.Option("--voice", help="Also place a test call.")] = False,
) -> None:
    """Send a test SMS (and with --voice a call) and report what the provider said."""
    from oncall.notify import testpage
    from oncall.notify.composite import build_transport

    snapshot = load_snapshot()
    found = snapshot.people.get(person)
    if found is None:
        raise fail(f"unknown person {person!r} (known: {', '.join(sorted(snapshot.people))})")
    if not found.phone:
        raise fail(f"person {person!r} has no phone number")
    transport, description = build_transport(settings())
    typer.echo(f"transport: {description}")
    typer.echo(testpage.test_page(transport, person_id=found.id, phone=found.phone, voice=voice))


@app.command("feed-url")
def feed_url(
    person: Annotated[str | None, typer.Option(help="Person whose shifts the feed lists.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Schedule whose shifts the feed lists.")] = None,
) -> None:
    """Print the calendar-feed URL (ICS) the daemon serves for a person or a schedule."""
    from oncall.web.api import feed_token

    s = settings()
    if (person is None) == (schedule is None):
        raise fail("give exactly one of --person or --schedule")
    if s.api_token is None:
        raise fail("calendar feeds need ONCALL_API_TOKEN")
    kind, ident = ("person", person) if person else ("schedule", schedule)
    assert ident is not None
    base = (s.public_url or f"http://{s.listen}").rstrip("/")
    token = feed_token(s.api_token.get_secret_value(), kind, ident)
    typer.echo(f"{base}/calendars/{kind}/{ident}.ics?token={token}")


@app.command("login-link")
def login_link(
    person: Annotated[str, typer.Argument(help="Person id from the configuration.")],
) -> None:
    """Print a one-time sign-in URL for the web console (valid 15 minutes, used once)."""
    from oncall.config.settings import database_origin
    from oncall.errors import StoreError
    from oncall.store.db import open_existing
    from oncall.web.console.auth import LINK_LIFETIME, Signer, Tokens, load_or_create_secret

    s = settings()
    snapshot = load_snapshot()
    if person not in snapshot.people:
        raise fail(f"unknown person {person!r} (known: {', '.join(sorted(snapshot.people))})")
    try:
        engine = open_existing(s.database_url, origin=database_origin(s))
    except StoreError as exc:
        raise fail(str(exc)) from None
    secret = s.console.secret_key.get_secret_value() if s.console.secret_key else None
    now = now_utc()
    token = Tokens(engine, Signer(load_or_create_secret(engine, secret, now))).new_link(person, now)
    engine.dispose()
    base = (s.public_url or f"http://{s.listen}").rstrip("/")
    typer.echo(f"{base}/signin/link?token={token}")
    typer.echo(f"(signs in as {person}; valid until {(now + LINK_LIFETIME).astimezone():%H:%M %Z}, once)", err=True)


def _stored_overrides(required: bool) -> Any:
    """The service's overrides made on the web; None where the service has no database yet
    (an SQLite file that does not exist). ``required``: fail instead of None."""
    from sqlalchemy.engine import make_url

    from oncall.config.settings import database_origin
    from oncall.errors import StoreError
    from oncall.schedules.stored_overrides import StoredOverrides
    from oncall.store.db import open_existing

    s = settings()
    url = make_url(s.database_url)
    if not required and url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return None
    try:
        return StoredOverrides(open_existing(s.database_url, origin=database_origin(s)))
    except StoreError as exc:
        if required:
            raise fail(str(exc)) from None
        typer.echo(f"oncall: note: overrides made on the web are not included: {exc}", err=True)
        return None


def _open_service() -> Any:
    from oncall.incidents.cli import open_service_from_settings

    return open_service_from_settings(settings(), load_snapshot)


def _open_engine() -> Any:
    from oncall.config.settings import database_origin
    from oncall.store.db import open_existing

    s = settings()
    return open_existing(s.database_url, origin=database_origin(s))


def _register_package_commands() -> None:
    """Commands that live with their packages."""
    from oncall.config.settings import database_origin
    from oncall.incidents.cli import register as register_incidents
    from oncall.response_clocks.cli import register as register_response_clocks
    from oncall.schedules.cli import register as register_schedules
    from oncall.store.cli import register as register_db

    register_schedules(app, load_snapshot, _stored_overrides)
    register_incidents(app, _open_service)
    register_db(app, settings, database_origin)
    register_response_clocks(app, _open_engine)


_register_package_commands()


def hoist_global_options(argv: list[str]) -> list[str]:
    """``--config DIR`` (``-c DIR``, ``--config=DIR``) is accepted after the command too, as
    people type it: ``oncall check --config examples/x``. Moved in front of the command."""
    rest: list[str] = []
    hoisted: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg in ("--config", "-c") and i + 1 < len(argv):
            hoisted += [arg, argv[i + 1]]
            i += 2
            continue
        if arg.startswith("--config="):
            hoisted.append(arg)
        else:
            rest.append(arg)
        i += 1
    return hoisted + rest


def main() -> None:
    try:
        app(args=hoist_global_options(sys.argv[1:]))
    except OncallError as exc:
        typer.echo(f"oncall: {exc}", err=True)
        sys.exit(2)
