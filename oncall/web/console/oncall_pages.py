"""On-call pages: who is on call now and next, a 14-day timeline per schedule (layers,
overrides, gaps, desk hours and holidays), my shifts with the calendar feed, and overrides
(cover and swap) made and removed on the web."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from oncall.config.snapshot import Snapshot
from oncall.desks.business_time import holiday_name, open_intervals
from oncall.errors import OncallError
from oncall.instants import InstantError, parse_instant
from oncall.interfaces import Channel, Outbound
from oncall.schedules.models import Schedule
from oncall.schedules.resolve import ResolvedSchedule, Shift
from oncall.schedules.rotation import wall_to_instant
from oncall.schedules.stored_overrides import is_stored
from oncall.web.api import feed_token
from oncall.web.console.core import Console, Ctx, log, safe_next

DAYS = 14
MY_SHIFTS_DAYS = 28


@dataclass(frozen=True, kw_only=True)
class Bar:
    """A piece of one day's bar: ``left``/``width`` in percent of the day."""

    left: float
    width: float
    label: str
    kind: str  # person | override | gap | open
    title: str


@dataclass(frozen=True, kw_only=True)
class DayRow:
    day: date
    label: str
    final: list[Bar]
    layers: list[list[Bar]]
    desk_hours: list[Bar]
    holiday: str | None


def _day_bounds(d: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return wall_to_instant(datetime.combine(d, time(0)), tz), \
        wall_to_instant(datetime.combine(d + timedelta(days=1), time(0)), tz)


def _bars(segments: list[tuple[datetime, datetime, str, str]], a: datetime, b: datetime,
          tz: ZoneInfo) -> list[Bar]:
    """The pieces of ``segments`` within [a, b), each titled with its own hours in ``tz``."""
    total = (b - a).total_seconds()
    out = []
    for s, e, label, kind in segments:
        s, e = max(s, a), min(e, b)
        if e <= s:
            continue
        until = "24:00" if e == b else f"{e.astimezone(tz):%H:%M}"
        out.append(Bar(left=round((s - a).total_seconds() / total * 100, 3),
                       width=round((e - s).total_seconds() / total * 100, 3), label=label, kind=kind,
                       title=f"{label} {s.astimezone(tz):%H:%M}–{until}"))
    return out


def schedule_days(snap: Snapshot, schedule: Schedule, start_day: date, days: int) -> list[DayRow]:
    """``days`` local days of ``schedule`` from ``start_day``: who is on call (overrides and gaps
    marked), each layer alone, and the desk's open hours, as bars over the schedule's day."""
    tz = schedule.timezone
    resolved = snap.resolved(schedule.id)
    t0, _ = _day_bounds(start_day, tz)
    _, t1 = _day_bounds(start_day + timedelta(days=days - 1), tz)
    names = {p.id: p.name for p in snap.people.values()}
    final: list[tuple[datetime, datetime, str, str]] = []
    for a, b, people in resolved.segments(t0, t1):
        by_override = bool(resolved.active_overrides(a)) and people != _base(resolved, a)
        who = ", ".join(names.get(p, p) for p in people) if people else "nobody"
        kind = "gap" if not people else "override" if by_override else "person"
        final.append((a, b, who if people else "nobody (gap)", kind))
    layer_segments = []
    for layer in schedule.layers:
        alone = ResolvedSchedule(schedule.model_copy(update={"layers": (layer,)}))
        layer_segments.append([(a, b, ", ".join(names.get(p, p) for p in ps), "person" if ps else "none")
                               for a, b, ps in alone.segments(t0, t1)])
    desk = snap.default_desk
    hours = [(a, b, "open", "open") for a, b in open_intervals(desk, t0, t1)]
    rows = []
    for i in range(days):
        d = start_day + timedelta(days=i)
        a, b = _day_bounds(d, tz)
        rows.append(DayRow(day=d, label=f"{d:%a %d %b}", final=_bars(final, a, b, tz),
                           layers=[_bars(seg, a, b, tz) for seg in layer_segments], desk_hours=_bars(hours, a, b, tz),
                           holiday=holiday_name(desk, d)))
    return rows


def _base(resolved: ResolvedSchedule, t: datetime) -> tuple[str, ...]:
    base = resolved.base_at(t)
    return (base,) if base else ()


def _next_change(resolved: ResolvedSchedule, now: datetime) -> tuple[datetime | None, tuple[str, ...]]:
    current = resolved.on_call(now)
    for a, _b, people in resolved.segments(now, now + timedelta(days=35)):
        if people != current:
            return a, people
    return None, current


def oncall_page(console: Console, ctx: Ctx) -> Response:
    snap = console.deps.snapshot()
    assert ctx.viewer is not None
    now = console.deps.clock()
    cards = []
    for schedule in snap.schedules.values():
        resolved = snap.resolved(schedule.id)
        nxt_at, nxt = _next_change(resolved, now)
        start_day = now.astimezone(schedule.timezone).date()
        gaps = resolved.gaps(now, now + timedelta(days=DAYS))
        cards.append({"schedule": schedule, "now": resolved.on_call(now), "next_at": nxt_at, "next": nxt,
                      "days": schedule_days(snap, schedule, start_day, DAYS), "gaps": gaps})
    desk = snap.default_desk
    holidays = [(d, name) for i in range(DAYS)
                if (name := holiday_name(desk, d := now.astimezone(desk.timezone).date() + timedelta(days=i)))]
    return console.render(ctx, "oncall.html", snap=snap, title="On call", cards=cards, desk=desk,
                          desk_holidays=holidays, days=DAYS)


def my_shifts(snap: Snapshot, person_id: str, now: datetime, days: int = MY_SHIFTS_DAYS) -> list[Shift]:
    return sorted(s for sid in snap.schedules for s in snap.resolved(sid).whole_shifts(now, now + timedelta(days=days))
                  if s.person == person_id)


def shifts_page(console: Console, ctx: Ctx) -> Response:
    snap = console.deps.snapshot()
    assert ctx.viewer is not None
    now = console.deps.clock()
    token = console.deps.settings.api_token
    feed = None
    if token is not None:
        base = (console.deps.settings.public_url or str(ctx.request.base_url)).rstrip("/")
        pid = ctx.viewer.person.id
        feed = f"{base}/calendars/person/{pid}.ics?token={feed_token(token.get_secret_value(), 'person', pid)}"
    return console.render(ctx, "shifts.html", snap=snap, title="My shifts",
                          shifts=my_shifts(snap, ctx.viewer.person.id, now), feed=feed, days=MY_SHIFTS_DAYS)


# ---- overrides -------------------------------------------------------------------------------

def overrides_page(console: Console, ctx: Ctx, *, error: str | None = None, status: int = 200,
                   values: dict[str, str] | None = None) -> Response:
    console.deps.on_overrides_changed()  # the CLI or another instance may have changed them
    snap = console.deps.snapshot()
    assert ctx.viewer is not None
    now = console.deps.clock()
    live = sorted((o for o in snap.overrides if o.end > now), key=lambda o: (o.start, o.id))
    tz = ctx.viewer.person.timezone
    form = dict(values or {})
    q = ctx.query
    if not values:  # pre-filled from "ask someone to cover" on my shifts
        form = {"schedule": q.get("schedule", next(iter(snap.schedules), "")), "replaces": q.get("replaces", ""),
                "person": q.get("person", ""), "reason": q.get("reason", ""),
                "start": _prefill(q.get("start"), tz) or now.astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
                "end": _prefill(q.get("end"), tz) or (now + timedelta(hours=12)).astimezone(tz).strftime(
                    "%Y-%m-%dT%H:%M")}
    history = console.deps.overrides.history(20)
    return console.render(ctx, "overrides.html", status=status, snap=snap, title="Overrides", live=live,
                          is_stored=is_stored, error=error, form=form, history=history,
                          can_remove=lambda o: can_remove(ctx, o), done=q.get("done"))


def _prefill(value: str | None, tz: ZoneInfo) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return ""


def can_remove(ctx: Ctx, o: Any) -> bool:
    v = ctx.viewer
    return v is not None and is_stored(o.id) and (v.admin or v.person.id in (o.person, o.replaces))


def parse_local(value: str, tz: ZoneInfo, now: datetime, what: str) -> datetime:
    """An ``<input type=datetime-local>`` value in the viewer's zone (or any form the CLI takes)."""
    text = value.strip().replace("T", " ")
    if not text:
        raise InstantError(f"{what}: give a date and time")
    try:
        return parse_instant(text, now) if ("+" in text or text.endswith("Z") or text == "now") else \
            parse_instant(f"{text} {tz.key}", now)
    except InstantError as exc:
        raise InstantError(f"{what}: {exc}") from None


def override_create(console: Console, ctx: Ctx) -> Response:
    assert ctx.viewer is not None
    console.deps.on_overrides_changed()  # validate against what is stored now, whoever stored it
    snap = console.deps.snapshot()
    now = console.deps.clock()
    f = ctx.form
    tz = ctx.viewer.person.timezone
    try:
        start = parse_local(f.get("start", ""), tz, now, "from")
        end = parse_local(f.get("end", ""), tz, now, "to")
        override = console.deps.overrides.add(
            snap, schedule=f.get("schedule", ""), person=f.get("person", ""), replaces=f.get("replaces") or None,
            start=start, end=end, reason=f.get("reason", "").strip()[:500] or None, actor=ctx.viewer.person.id,
            now=now)
    except (OncallError, InstantError) as exc:
        return overrides_page(console, ctx, error=str(exc), status=422, values=dict(f))
    console.deps.on_overrides_changed()
    _tell_cover(console, snap, override, ctx.viewer.person.name)
    return console.redirect(ctx, f"/overrides?done=added+{override.id}")


def _tell_cover(console: Console, snap: Snapshot, override: Any, by: str) -> None:
    """Let the person who now covers know (best effort: the override stands either way)."""
    person = snap.people.get(override.person)
    schedule = snap.schedules.get(override.schedule)
    if person is None or schedule is None:
        return
    text = (f"oncall: {by} put you on call for {schedule.name or schedule.id} from "
            f"{override.start.astimezone(person.timezone):%a %d %b %H:%M} to "
            f"{override.end.astimezone(person.timezone):%a %d %b %H:%M %Z}"
            + (f" ({override.reason})" if override.reason else "") + ". See the console's Overrides page.")
    channel, address = _reach(console, person)
    if address is None:
        return
    try:
        console.deps.transport.send(Outbound(key=f"cover-{override.id}"[:100], channel=channel, to=address,
                                             person_id=person.id, incident_ids=(), text=text,
                                             subject="oncall: you are covering a shift"))
    except Exception as exc:  # the override is made; a failed notice is logged, not fatal
        log.warning("console.cover_notice_failed", override=override.id, error=type(exc).__name__)


def _reach(console: Console, person: Any) -> tuple[Channel, str | None]:
    channels = console.deps.transport.channels()
    if person.phone and Channel.SMS in channels and not console.deps.sms_blocked(person.id):
        return Channel.SMS, person.phone
    if person.email and Channel.EMAIL in channels:
        return Channel.EMAIL, person.email
    return Channel.SMS, None


def override_remove(console: Console, ctx: Ctx) -> Response:
    assert ctx.viewer is not None
    ident = ctx.request.path_params["override_id"]
    found = console.deps.overrides.get(ident)
    if found is None or found.removed_at is not None or not can_remove(ctx, found.override):
        return overrides_page(console, ctx, status=403 if found else 404,
                              error=f"override {ident!r} cannot be removed from here: only web overrides, by "
                                    "an admin or the people it names (file overrides: oncall override remove)")
    try:
        console.deps.overrides.remove(ident, actor=ctx.viewer.person.id, now=console.deps.clock())
    except OncallError as exc:
        return overrides_page(console, ctx, error=str(exc), status=409)
    console.deps.on_overrides_changed()
    return console.redirect(ctx, safe_next(f"/overrides?done=removed+{ident}"))
