"""CLI commands: ``oncall who``, ``oncall shifts`` and ``oncall override add|list|remove``.

``register(app, load_snapshot)`` adds them to the main Typer app. The clock is read here
(``datetime.now(UTC)``) and nowhere below. Mistakes in input end with a message on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError

from oncall.config.snapshot import with_stored_overrides
from oncall.errors import OncallError
from oncall.instants import InstantError, parse_instant
from oncall.schedules.checks import override_changes_nothing
from oncall.schedules.ics import shifts_ics
from oncall.schedules.models import Override, Schedule
from oncall.schedules.overrides_file import (
    add_override,
    list_overrides,
    new_override_id,
    problems_with,
    remove_override,
)
from oncall.schedules.resolve import ResolvedSchedule, Shift
from oncall.schedules.stored_overrides import StoredOverrides, is_stored

DEFAULT_SPAN = timedelta(days=14)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@contextmanager
def _friendly() -> Iterator[None]:
    try:
        yield
    except OncallError as exc:
        _fail(str(exc))


def parse_when(value: str | None, now: datetime, option: str) -> datetime:
    """An instant (ISO-8601 with an offset, a local time with a zone name, or 'now')."""
    if value is None:
        return now
    try:
        return parse_instant(value, now)
    except InstantError as exc:
        _fail(f"{option}: {exc}")


def _schedule(snapshot: Any, schedule_id: str) -> Schedule:
    schedules = snapshot.schedules
    if schedule_id not in schedules:
        known = ", ".join(sorted(schedules)) or "none"
        _fail(f"unknown schedule {schedule_id!r} (known: {known})")
    result: Schedule = schedules[schedule_id]
    return result


def _fmt(t: datetime, tz: ZoneInfo) -> str:
    """'Sun 2026-10-25 01:30+00:00': the offset tells the two 01:30s of a fall-back night apart."""
    local = t.astimezone(tz)
    return f"{local:%a} {local.isoformat(sep=' ', timespec='minutes')}"


def register(app: typer.Typer, load_snapshot: Callable[[], Any],
             stored_overrides: Callable[[bool], StoredOverrides | None] = lambda _required: None) -> None:
    """Add ``who``, ``shifts`` and the ``override`` sub-app to ``app``.

    ``stored_overrides(required)`` opens the service's overrides made on the web (None where
    the service has no database yet; with ``required`` it fails instead): every command
    reads the file overrides merged with them."""

    def snapshot() -> Any:
        with _friendly():
            snap = load_snapshot()
            store = stored_overrides(False)
            return with_stored_overrides(snap, store.live()) if store is not None else snap

    @app.command()
    def who(
        schedule: Annotated[str | None, typer.Argument(help="Schedule id (default: all)")] = None,
        at: Annotated[str | None, typer.Option("--at", help="Tz-aware ISO-8601 or 'now'")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON: schedule -> person ids")] = False,
    ) -> None:
        """Who is on call now (or at --at)."""
        snap = snapshot()
        t = parse_when(at, datetime.now(UTC), "--at")
        chosen = [_schedule(snap, schedule)] if schedule else list(snap.schedules.values())
        answer: dict[str, list[str]] = {}
        with _friendly():
            for s in chosen:
                answer[s.id] = list(ResolvedSchedule(s, snap.overrides).on_call(t))
        if as_json:
            typer.echo(json.dumps(answer, indent=2))
            return
        for sid, people in answer.items():
            names = [f"{snap.people[p].name} ({p})" if p in snap.people else p for p in people]
            typer.echo(f"{sid}: {', '.join(names) if names else 'NOBODY'}")

    @app.command("shifts")
    def shifts_cmd(
        schedule: Annotated[str | None, typer.Option("--schedule", help="Schedule id")] = None,
        person: Annotated[str | None, typer.Option("--person", help="Only this person")] = None,
        start: Annotated[str | None, typer.Option("--from", help="Tz-aware ISO-8601")] = None,
        end: Annotated[str | None, typer.Option("--to", help="Tz-aware ISO-8601")] = None,
        ics: Annotated[bool, typer.Option("--ics", help="Write an iCalendar feed")] = False,
        output: Annotated[Path | None, typer.Option("--output", help="Write here")] = None,
    ) -> None:
        """Shifts overlapping the next 14 days (or --from/--to), whole, as text or ICS."""
        snap = snapshot()
        now = datetime.now(UTC)
        t0 = parse_when(start, now, "--from")
        t1 = parse_when(end, now, "--to") if end else t0.astimezone(UTC) + DEFAULT_SPAN
        if t1 <= t0:
            _fail("--to must be after --from")
        if person is not None and person not in snap.people:
            _fail(f"unknown person {person!r}")
        chosen = [_schedule(snap, schedule)] if schedule else list(snap.schedules.values())
        found: list[Shift] = []
        with _friendly():
            for s in chosen:
                found += ResolvedSchedule(s, snap.overrides).whole_shifts(t0, t1)
        if person is not None:
            found = [x for x in found if x.person == person]
        found.sort()
        if person is not None:
            tz: ZoneInfo = snap.people[person].timezone
        elif len(chosen) == 1:
            tz = chosen[0].timezone
        else:
            tz = ZoneInfo("UTC")
        if ics:
            name = f"On call: {person}" if person else f"On call: {schedule or 'all schedules'}"
            data = shifts_ics(found, calendar_name=name, tz=tz, now=now,
                              with_person=person is None)
            if output is not None:
                output.write_bytes(data)
            else:
                typer.echo(data.decode(), nl=False)
            return
        lines = [f"{_fmt(x.start, tz)}  {_fmt(x.end, tz)}  {x.schedule:<16} {x.person}"
                 for x in found]
        text = f"# times in {tz.key}\n" + "".join(f"{line}\n" for line in lines)
        if output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            typer.echo(text, nl=False)

    override_app = typer.Typer(help="Add, list and remove overrides (overrides.yaml).",
                               no_args_is_help=True)
    app.add_typer(override_app, name="override")

    @override_app.command("add")
    def override_add(
        schedule: Annotated[str, typer.Option("--schedule", help="Schedule id")],
        person: Annotated[str, typer.Option("--person", help="Who covers")],
        start: Annotated[str, typer.Option("--from", help="Tz-aware ISO-8601 or 'now'")],
        end: Annotated[str, typer.Option("--to", help="Tz-aware ISO-8601")],
        replaces: Annotated[str | None, typer.Option("--replaces",
                                                     help="Only this person's slot")] = None,
        reason: Annotated[str | None, typer.Option("--reason")] = None,
        force: Annotated[bool, typer.Option("--force",
                                            help="Write it even if it changes nothing")] = False,
    ) -> None:
        """Write an override to overrides.yaml (refuses overlaps, unknown ids, past windows, and
        an override that changes nobody on call unless --force)."""
        snap = snapshot()
        now = datetime.now(UTC)
        t0, t1 = parse_when(start, now, "--from"), parse_when(end, now, "--to")
        sched = _schedule(snap, schedule)
        ident = new_override_id(t0, person, sched.timezone, {o.id for o in snap.overrides})
        try:
            override = Override(id=ident, schedule=schedule, person=person, replaces=replaces,
                                start=t0, end=t1, reason=reason)
        except ValidationError as exc:
            _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        people_ids, schedule_ids = set(snap.people), set(snap.schedules)
        # Other problems (overlaps, unknown ids, a past window) are said first, by add_override.
        if not force and not problems_with(override, existing=snap.overrides, people_ids=people_ids,
                                           schedule_ids=schedule_ids, now=now):
            idle = override_changes_nothing(override, sched, snap.overrides)
            if idle is not None:
                _fail(f"override {ident!r} refused: it changes nothing: {idle} "
                      "(--force writes it anyway)")
        with _friendly():
            path = add_override(snap.config_dir, override, existing=tuple(snap.overrides),
                                people_ids=people_ids, schedule_ids=schedule_ids, now=now)
        typer.echo(f"added {ident} to {path}: {person} covers {schedule} from "
                   f"{_fmt(t0, sched.timezone)} to {_fmt(t1, sched.timezone)} "
                   f"({sched.timezone.key})")

    @override_app.command("list")
    def override_list(
        schedule: Annotated[str | None, typer.Option("--schedule", help="Schedule id")] = None,
        include_past: Annotated[bool, typer.Option("--all", help="Include ended ones")] = False,
    ) -> None:
        """Overrides by start time (running and future ones unless --all)."""
        snap = snapshot()
        after = None if include_past else datetime.now(UTC)
        for o in list_overrides(snap.overrides, schedule=schedule, after=after):
            s = snap.schedules.get(o.schedule)
            tz = s.timezone if s is not None else ZoneInfo("UTC")
            slot = f"replaces {o.replaces}" if o.replaces else "whole schedule"
            note = f"  # {o.reason}" if o.reason else ""
            where = "  [web]" if is_stored(o.id) else ""
            typer.echo(f"{o.id}  {o.schedule}  {o.person} ({slot})  {_fmt(o.start, tz)} -> "
                       f"{_fmt(o.end, tz)} {tz.key}{where}{note}")

    @override_app.command("remove")
    def override_remove(
        override_id: Annotated[str, typer.Argument(help="Override id")],
    ) -> None:
        """Delete an override from the file that holds it, or one made on the web (web-…)."""
        if is_stored(override_id):
            with _friendly():
                store = stored_overrides(True)
                assert store is not None
                store.remove(override_id, actor=os.environ.get("ONCALL_ACTOR") or getpass.getuser(),
                             now=datetime.now(UTC))
            typer.echo(f"removed {override_id} from the service's database (made on the web)")
            return
        snap = snapshot()
        with _friendly():
            path = remove_override(snap.config_dir, override_id)
        typer.echo(f"removed {override_id} from {path}")
