"""Cross-checks over people, schedules and overrides for ``oncall check`` and reloads.

Each finding's path points into the merged configuration, index = position in the
tuple passed in, e.g. ``("schedules", 0, "layers", 1, "participants", 2)``.

An override that changes nobody's shifts (it replaces someone who is not on call in its
window, or puts on call someone who already is for the whole window) is a mistake made
where it is written: ``oncall override add`` refuses it and ``oncall check`` warns.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from oncall.findings import Finding
from oncall.interfaces import Channel
from oncall.notify.channels import CHANNELS
from oncall.schedules.models import Override, Person, Schedule
from oncall.schedules.resolve import ResolvedSchedule
from oncall.schedules.rotation import require_aware

DEFAULT_HORIZON = timedelta(days=28)


def _fmt(t: datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%a %Y-%m-%d %H:%M")


def _duplicates(section: str, ids: Iterable[str], what: str) -> list[Finding]:
    seen: dict[str, int] = {}
    out = []
    for i, ident in enumerate(ids):
        if ident in seen:
            out.append(Finding(path=(section, i, "id"),
                               message=f"duplicate {what} id {ident!r} (first defined as "
                                       f"{section}[{seen[ident]}])"))
        else:
            seen[ident] = i
    return out


def _check_people(people: tuple[Person, ...], known: set[str]) -> list[Finding]:
    out = _duplicates("people", (p.id for p in people), "person")
    for i, p in enumerate(people):
        # One finding per missing address (sms and voice share the phone number), in the
        # registry's order; the methods in the person's.
        missing: dict[str, list[str]] = {CHANNELS[c].address_noun: [] for c in Channel}
        for method in p.contact_methods:
            spec = CHANNELS[method]
            if spec.address_of(p) is None:
                missing[spec.address_noun].append(spec.name)
        for noun, methods in missing.items():
            if not methods:
                continue
            out.append(Finding(path=("people", i, "contact_methods"),
                               message=f"person {p.id!r} is reached by {' and '.join(methods)} "
                                       f"but has no {noun}"))
        if not p.contact_methods:
            out.append(Finding(path=("people", i, "contact_methods"),
                               message=f"person {p.id!r} has no contact methods and cannot be "
                                       "paged", severity="warning"))
        if p.manager is not None and p.manager not in known:
            out.append(Finding(path=("people", i, "manager"),
                               message=f"manager {p.manager!r} of {p.id!r} is not a known person"))
    return out


def _check_layers(schedules: tuple[Schedule, ...], known: set[str]) -> list[Finding]:
    out = _duplicates("schedules", (s.id for s in schedules), "schedule")
    for si, s in enumerate(schedules):
        for li, layer in enumerate(s.layers):
            here: tuple[str | int, ...] = ("schedules", si, "layers", li)
            parts = layer.participants
            for pi, person in enumerate(parts):
                if person not in known:
                    out.append(Finding(path=(*here, "participants", pi),
                                       message=f"schedule {s.id!r} layer {layer.name!r}: "
                                               f"unknown person {person!r}"))
                nxt = parts[(pi + 1) % len(parts)]
                if len(parts) > 1 and nxt == person:
                    out.append(Finding(path=(*here, "participants", pi), severity="warning",
                                       message=f"schedule {s.id!r} layer {layer.name!r}: "
                                               f"{person!r} is listed twice in a row and gets "
                                               "back-to-back shifts"))
            for ri, r in enumerate(layer.restrictions):
                reason = None
                if not r.days:
                    reason = "lists no days"
                elif r.from_ == r.to or r.from_ == time.max:
                    reason = (f"starts and ends at {r.from_:%H:%M} (for a whole day write "
                              "from: '00:00', to: '24:00')") if r.from_ == r.to else "starts at 24:00"
                if reason:
                    out.append(Finding(path=(*here, "restrictions", ri),
                                       message=f"schedule {s.id!r} layer {layer.name!r}: "
                                               f"restriction {reason} and can never match"))
    return out


def _slot(o: Override) -> tuple[str, str | None]:
    return (o.schedule, o.replaces)


def _check_overrides(overrides: tuple[Override, ...], known: set[str],
                     schedule_ids: set[str]) -> list[Finding]:
    out = _duplicates("overrides", (o.id for o in overrides), "override")
    for i, o in enumerate(overrides):
        if o.schedule not in schedule_ids:
            out.append(Finding(path=("overrides", i, "schedule"),
                               message=f"override {o.id!r}: unknown schedule {o.schedule!r}"))
        if o.person not in known:
            out.append(Finding(path=("overrides", i, "person"),
                               message=f"override {o.id!r}: unknown person {o.person!r}"))
        if o.replaces is not None and o.replaces not in known:
            out.append(Finding(path=("overrides", i, "replaces"),
                               message=f"override {o.id!r}: replaces unknown person "
                                       f"{o.replaces!r}"))
        if o.end <= o.start:
            out.append(Finding(path=("overrides", i, "end"),
                               message=f"override {o.id!r} ends ({o.end.isoformat()}) before "
                                       f"it starts ({o.start.isoformat()})"))
    ordered = sorted(((o.start, i) for i, o in enumerate(overrides) if o.end > o.start))
    for n, (_, i) in enumerate(ordered):
        a = overrides[i]
        for _, j in ordered[n + 1:]:
            b = overrides[j]
            if b.start >= a.end:
                break  # sorted by start: no later one can overlap a
            if _slot(a) == _slot(b):
                slot = f"{b.replaces!r}'s slot" if b.replaces else "the whole schedule"
                out.append(Finding(path=("overrides", j),
                                   message=f"override {b.id!r} overlaps {a.id!r} for {slot} on "
                                           f"schedule {b.schedule!r}; remove or shorten one"))
    return out


def override_changes_nothing(override: Override, schedule: Schedule,
                             others: Collection[Override]) -> str | None:
    """Why ``override`` changes nobody on call for ``schedule`` (None: it changes something).

    Compares who is on call over the override's window with and without it (``others``: the
    overrides already there; the override itself, if among them, is left out).
    """
    if override.end <= override.start or override.schedule != schedule.id:
        return None
    rest = [o for o in others if o is not override]
    without = ResolvedSchedule(schedule, rest).segments(override.start, override.end)
    with_it = ResolvedSchedule(schedule, [*rest, override]).segments(override.start, override.end)
    if without != with_it:
        return None
    tz = schedule.timezone
    window = f"from {_fmt(override.start, tz)} to {_fmt(override.end, tz)} ({tz.key})"
    if override.replaces == override.person:
        return f"{override.person!r} would replace themselves {window}"
    if override.replaces is not None:
        return f"{override.replaces!r} is not on call for {schedule.id!r} at any time {window}"
    if all(people == (override.person,) for _a, _b, people in without):
        return f"{override.person!r} is already on call for {schedule.id!r} all the time {window}"
    return f"{schedule.id!r} has the same people on call with and without it {window}"


def _idle_overrides(schedules: tuple[Schedule, ...], overrides: tuple[Override, ...],
                    now: datetime) -> list[Finding]:
    """A warning per override not yet over that changes nothing.

    Each is judged against the overrides listed before it, as ``oncall override add`` judged
    it when it was appended: of two that make each other redundant, the later one is named.
    """
    by_id = {s.id: s for s in schedules}
    out = []
    for i, o in enumerate(overrides):
        schedule = by_id.get(o.schedule)
        if schedule is None or o.end <= now:
            continue
        # One overlapping the same slot is an error already, not also a reason to warn.
        before = [other for other in overrides[:i] if other.schedule == o.schedule
                  and not (_slot(other) == _slot(o) and other.start < o.end and o.start < other.end)]
        reason = override_changes_nothing(o, schedule, before)
        if reason is not None:
            out.append(Finding(path=("overrides", i), severity="warning",
                               message=f"override {o.id!r} changes nothing: {reason}"))
    return out


def check_gaps(resolved: ResolvedSchedule, index: int, *, now: datetime,
               horizon: timedelta = DEFAULT_HORIZON) -> list[Finding]:
    """An error per window in [now, now + horizon) during which nobody is on call."""
    s = resolved.schedule
    tz = s.timezone
    require_aware(now, "now")
    now = now.astimezone(UTC)  # the horizon is real elapsed time, not local wall time
    end = now + horizon
    out = []
    for a, b in resolved.gaps(now, end):
        tail = "; the gap may continue past the end of the checked window" if b >= end else ""
        out.append(Finding(path=("schedules", index),
                           message=f"schedule {s.id!r} has nobody on call from {_fmt(a, tz)} "
                                   f"to {_fmt(b, tz)} ({tz.key}){tail}"))
    return out


def check_schedules(people: tuple[Person, ...], schedules: tuple[Schedule, ...],
                    overrides: tuple[Override, ...], *, now: datetime,
                    horizon: timedelta = DEFAULT_HORIZON,
                    used_schedules: set[str] | frozenset[str] = frozenset()) -> list[Finding]:
    """Every cross-item problem; coverage gaps only for schedules in ``used_schedules``."""
    known = {p.id for p in people}
    schedule_ids = {s.id for s in schedules}
    out = _check_people(people, known)
    out += _check_layers(schedules, known)
    out += _check_overrides(overrides, known, schedule_ids)
    out += _idle_overrides(schedules, overrides, now)
    done: set[str] = set()
    for i, s in enumerate(schedules):
        if s.id in used_schedules and s.id not in done:
            done.add(s.id)
            out += check_gaps(ResolvedSchedule(s, overrides), i, now=now, horizon=horizon)
    return out
