"""Overrides made while the service runs (the web console), kept in the database.

The configuration directory is read-only to the service, so an override made on the web is a
row in ``stored_overrides``, not a line in ``overrides.yaml``. Everything that asks who is on
call reads one merged list: ``oncall.config.snapshot.with_stored_overrides`` (over
:meth:`StoredOverrides.live`) is the single place where file and stored overrides meet, and
the daemon's snapshot, the CLI (``who``, ``shifts``, ``override list``) and calendar feeds all
go through it.

Rows are never deleted: a removal records who removed it and when, so the table is also the
audit trail of web overrides. Stored ids start with ``web-`` so they cannot collide with ids
in files (``ovr-…``) and say where to remove them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, and_, func, insert, select, update

from oncall import logs
from oncall.errors import ScheduleError
from oncall.schedules.checks import override_changes_nothing
from oncall.schedules.models import Override, Person, Schedule
from oncall.schedules.overrides_file import new_override_id, problems_with
from oncall.store.tables import stored_overrides

log = logs.get("oncall.overrides")
STORED_PREFIX = "web-"


class OverrideBook(Protocol):
    """What adding an override reads of the configuration: the snapshot, merged."""

    @property
    def people(self) -> Mapping[str, Person]: ...

    @property
    def schedules(self) -> Mapping[str, Schedule]: ...

    @property
    def overrides(self) -> tuple[Override, ...]: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoredOverride:
    """A stored override with its audit fields."""

    override: Override
    created_by: str
    created_at: datetime
    removed_by: str | None = None
    removed_at: datetime | None = None


def is_stored(override_id: str) -> bool:
    return override_id.startswith(STORED_PREFIX)


class StoredOverrides:
    """The ``stored_overrides`` table. Every method opens its own short transaction; none may
    be called while the caller holds a write transaction on SQLite (it would wait for it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def live(self) -> tuple[Override, ...]:
        """Overrides not removed (past ones included: history answers `who --at` in the past)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(stored_overrides).where(stored_overrides.c.removed_at.is_(None))
                                .order_by(stored_overrides.c.starts_at, stored_overrides.c.id)).all()
        return tuple(_override(r) for r in rows)

    def history(self, limit: int = 50) -> list[StoredOverride]:
        """Most recent first: creations and removals, for the console's audit view."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(stored_overrides).order_by(
                func.coalesce(stored_overrides.c.removed_at, stored_overrides.c.created_at).desc())
                .limit(limit)).all()
        return [StoredOverride(override=_override(r), created_by=r.created_by, created_at=r.created_at,
                               removed_by=r.removed_by, removed_at=r.removed_at) for r in rows]

    def get(self, override_id: str) -> StoredOverride | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(stored_overrides).where(stored_overrides.c.id == override_id)).first()
        if r is None:
            return None
        return StoredOverride(override=_override(r), created_by=r.created_by, created_at=r.created_at,
                              removed_by=r.removed_by, removed_at=r.removed_at)

    def revision(self) -> tuple[int, int]:
        """Changes whenever an override is added or removed (by any instance)."""
        with self.engine.connect() as conn:
            total, removed = conn.execute(select(func.count(), func.count(stored_overrides.c.removed_at))).one()
        return int(total), int(removed)

    def add(self, snapshot: OverrideBook, *, schedule: str, person: str, replaces: str | None, start: datetime,
            end: datetime, reason: str | None, actor: str, now: datetime, force: bool = False) -> Override:
        """Validate as ``oncall override add`` does (unknown ids, past or empty windows, overlaps
        with any override, file or stored; one that changes nobody on call unless ``force``)
        and store it. ``snapshot`` must be the merged one. Raises :class:`ScheduleError`."""
        sched = snapshot.schedules.get(schedule)
        if sched is None:
            raise ScheduleError(f"unknown schedule {schedule!r} (known: {', '.join(sorted(snapshot.schedules))})")
        with self.engine.connect() as conn:
            taken = set(conn.execute(select(stored_overrides.c.id)).scalars())
        taken |= {o.id for o in snapshot.overrides}
        ident = STORED_PREFIX + new_override_id(start, person, sched.timezone, set()).removeprefix("ovr-")
        n = 1
        base = ident
        while ident in taken:
            n += 1
            ident = f"{base}-{n}"
        try:
            override = Override(id=ident, schedule=schedule, person=person, replaces=replaces or None,
                                start=start, end=end, reason=reason or None)
        except ValueError as exc:
            raise ScheduleError(f"override refused: {exc}") from None
        problems = problems_with(override, existing=snapshot.overrides, people_ids=set(snapshot.people),
                                 schedule_ids=set(snapshot.schedules), now=now)
        if problems:
            raise ScheduleError("override refused: " + "; ".join(problems))
        if not force:
            idle = override_changes_nothing(override, sched, snapshot.overrides)
            if idle is not None:
                raise ScheduleError(f"override refused: it changes nothing: {idle}")
        with self.engine.begin() as conn:
            conn.execute(insert(stored_overrides).values(
                id=override.id, schedule=override.schedule, person=override.person, replaces=override.replaces,
                starts_at=override.start, ends_at=override.end, reason=override.reason, created_by=actor,
                created_at=now))
        log.info("override.added", id=override.id, schedule=schedule, person=person, replaces=replaces,
                 start=start.isoformat(), end=end.isoformat(), actor=actor)
        return override

    def remove(self, override_id: str, *, actor: str, now: datetime) -> Override:
        """Mark a stored override removed. Raises :class:`ScheduleError` when there is none."""
        with self.engine.begin() as conn:
            row = conn.execute(select(stored_overrides).where(and_(
                stored_overrides.c.id == override_id, stored_overrides.c.removed_at.is_(None)))).first()
            if row is None:
                raise ScheduleError(f"no override with id {override_id!r} (see `oncall override list`)")
            conn.execute(update(stored_overrides).where(stored_overrides.c.id == override_id).values(
                removed_by=actor, removed_at=now))
        log.info("override.removed", id=override_id, actor=actor)
        return _override(row)


def _override(r: Any) -> Override:
    return Override(id=r.id, schedule=r.schedule, person=r.person, replaces=r.replaces,
                    start=r.starts_at, end=r.ends_at, reason=r.reason)


def describe(overrides: Sequence[Override]) -> dict[str, str]:
    """override id → where it lives, for listings: 'web' or 'file'."""
    return {o.id: "web" if is_stored(o.id) else "file" for o in overrides}
