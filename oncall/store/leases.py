"""Named leases with fencing tokens: one instance at a time runs each singleton duty.

A lease is a row ``(name, owner, token, expires_at)``. :meth:`LeaseStore.acquire` takes or
renews it in one statement, timed by the database's clock on PostgreSQL (``now()``), so the
hosts' clocks never decide who holds it::

    INSERT INTO leases VALUES (:name, :me, 1, now() + :life)
    ON CONFLICT (name) DO UPDATE SET owner = :me, expires_at = now() + :life,
        token = CASE WHEN leases.owner = :me THEN leases.token ELSE leases.token + 1 END
    WHERE leases.expires_at <= now() OR leases.owner = :me
    RETURNING token, expires_at

— a row nobody has is created, an expired one (or our own) is taken, and the token goes up
only when the lease changes hands. Every write made under a lease goes through
:meth:`Fence.hold` in its own transaction: the lease row is read ``FOR SHARE`` with our
owner and token, so a takeover waits for the write to commit, and a holder that was frozen
(SIGSTOP, a VM paused) and wakes to find its token raised writes nothing
(:class:`~oncall.errors.LeaseLost`). The transaction is bounded by
``idle_in_transaction_session_timeout`` so a holder frozen in the middle of one cannot keep
the row locked past its lease.

SQLite serves one instance (the instance lock in :mod:`.instance_lock` is the exclusion), so
there the store is *exclusive*: the same statements on the host's clock, and a lease is
always granted — to a restarted daemon at once, with a new token — rather than waited for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, Interval, bindparam, case, func, insert, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from oncall.errors import LeaseLost
from oncall.store.tables import cursors, leases
from oncall.store.types import UTCDateTime


@dataclass(frozen=True, kw_only=True)
class Grant:
    """A lease held: its token and when it ends, in the database's time."""

    name: str
    token: int
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class LeaseRow:
    name: str
    owner: str
    token: int
    expires_at: datetime


class LeaseStore:
    """The ``leases`` table for one owner (this instance's id)."""

    def __init__(self, engine: Engine, owner: str, *, clock: Callable[[], datetime]) -> None:
        """``clock`` is read only on SQLite, where the database's time is the host's."""
        self.engine = engine
        self.owner = owner
        self.clock = clock
        self.shared = engine.dialect.name == "postgresql"
        """Several instances may hold leases here (PostgreSQL); False on SQLite: exclusive."""

    def now(self) -> ColumnElement[datetime]:
        """The database's ``now()`` on PostgreSQL; the host's clock on SQLite."""
        return func.now() if self.shared else literal(self.clock(), UTCDateTime())

    def _after(self, span: timedelta) -> ColumnElement[datetime]:
        if self.shared:
            return func.now() + bindparam(None, span, type_=Interval())
        return literal(self.clock() + span, UTCDateTime())

    def acquire(self, name: str, life: timedelta) -> Grant | None:
        """Take ``name`` for ``life`` if it is free, expired or ours (renewing it); ``None``
        when another owner holds it. Raises ``SQLAlchemyError`` when the database fails."""
        dialect = postgresql if self.shared else sqlite
        insert = dialect.insert(leases).values(name=name, owner=self.owner, token=1, expires_at=self._after(life))
        mine = leases.c.owner == insert.excluded.owner
        takeable = (leases.c.expires_at <= self.now()) | mine if self.shared else literal(True)
        statement = insert.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"owner": insert.excluded.owner, "expires_at": insert.excluded.expires_at,
                  "token": case((mine, leases.c.token), else_=leases.c.token + 1)},
            where=takeable,
        ).returning(leases.c.token, leases.c.expires_at)
        with self.engine.begin() as conn:
            row = conn.execute(statement).first()
        return Grant(name=name, token=int(row.token), expires_at=row.expires_at) if row else None

    def release(self, name: str, token: int) -> bool:
        """Let ``name`` go at once (a drain, the schema gate closing), if still ours with
        ``token``: another instance may take it at its next try."""
        with self.engine.begin() as conn:
            done = conn.execute(update(leases).where(
                leases.c.name == name, leases.c.owner == self.owner, leases.c.token == token,
            ).values(expires_at=self.now()).returning(leases.c.name)).first()
        return done is not None

    def rows(self) -> list[LeaseRow]:
        """Every lease, held or lapsed (for tests and operators)."""
        with self.engine.connect() as conn:
            found = conn.execute(select(leases).order_by(leases.c.name)).all()
        return [LeaseRow(name=r.name, owner=r.owner, token=int(r.token), expires_at=r.expires_at) for r in found]


class Fence:
    """The lease a singleton duty writes under: its name and, while held, the token.

    The :class:`~oncall.daemon.leases.LeaseKeeper` sets :attr:`token` when the lease is
    granted and clears it when it is lost; the duty calls :meth:`hold` in the transaction of
    each write it makes under the lease, and :meth:`check` before each thing it sends."""

    def __init__(self, store: LeaseStore, name: str, *, idle_limit: timedelta,
                 on_lost: Callable[[str, int], None] = lambda _name, _token: None,
                 take: Callable[[str], bool] = lambda _name: False) -> None:
        """``take(name)`` tries to take the lease when it is not held (the keeper's ``ensure``:
        a duty run directly, as tests do, rather than by the runner under its guard)."""
        self.store = store
        self.name = name
        self.idle_limit = idle_limit
        self.on_lost = on_lost
        self.take = take
        self.token: int | None = None

    def ready(self) -> None:
        """Before a transaction that will :meth:`hold` the fence: take the lease if it is not
        held (never inside one: on SQLite the second connection would wait for the first)."""
        if self.token is None:
            self.take(self.name)

    def hold(self, conn: Connection) -> int:
        """In the caller's transaction: the lease is still ours with our token (and, on
        PostgreSQL, not expired), and stays so until the transaction ends. Returns the token.
        Raises :class:`LeaseLost` — roll back, send nothing."""
        token = self.token
        if token is None:
            raise LeaseLost(self.name, "not held")
        query = select(leases.c.token).where(
            leases.c.name == self.name, leases.c.owner == self.store.owner, leases.c.token == token)
        if self.store.shared:
            millis = max(1, int(self.idle_limit.total_seconds() * 1000))
            conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {millis}"))
            query = query.where(leases.c.expires_at > func.now()).with_for_update(read=True)
        if conn.execute(query).first() is None:
            self.token = None
            self.on_lost(self.name, token)
            raise LeaseLost(self.name, f"token {token} is no longer ours")
        return token

    def check(self) -> int:
        """:meth:`hold` in a transaction of its own: before a send that cannot be undone."""
        self.ready()
        with self.store.engine.begin() as conn:
            return self.hold(conn)


class Fencing(Protocol):
    """What a duty writing under a lease needs: :class:`Fence`, or :data:`UNFENCED`."""

    def ready(self) -> None:
        """See :meth:`Fence.ready`."""
        ...

    def hold(self, conn: Connection) -> int:
        """See :meth:`Fence.hold`. Raises :class:`LeaseLost`."""
        ...

    def check(self) -> int:
        """See :meth:`Fence.check`. Raises :class:`LeaseLost`."""
        ...


class Unfenced:
    """The fence of a duty run without a lease (one built on its own, in a test): always held."""

    def ready(self) -> None:
        return None

    def hold(self, conn: Connection) -> int:
        return 0

    def check(self) -> int:
        return 0


UNFENCED: Fencing = Unfenced()


def fenced_set_cursor(engine: Engine, fence: Fencing, name: str, value: str, at: datetime) -> None:
    """Set the cursor ``name`` (insert or replace) only while ``fence`` holds: a poller's
    position, write-back's last audit row. Raises :class:`LeaseLost`, writing nothing."""
    fence.ready()
    with engine.begin() as conn:
        fence.hold(conn)
        changed = conn.execute(update(cursors).where(cursors.c.name == name).values(value=value, updated_at=at)
                               .returning(cursors.c.name)).first()
        if changed is None:
            conn.execute(insert(cursors).values(name=name, value=value, updated_at=at))


class FencedCursors:
    """A poller's :class:`~oncall.interfaces.CursorStore` on the cursors table, whose writes
    hold the poller's lease: a poller that lost it (frozen, then woken) moves no cursor."""

    def __init__(self, engine: Engine, fence: Fencing) -> None:
        self.engine = engine
        self.fence = fence

    def get_cursor(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(cursors.c.value).where(cursors.c.name == name)).first()
        return str(value[0]) if value else None

    def set_cursor(self, name: str, value: str, at: datetime) -> None:
        fenced_set_cursor(self.engine, self.fence, name, value, at)


def claim_once(engine: Engine, name: str, value: str, at: datetime, fence: Fencing = UNFENCED) -> bool:
    """Record ``name`` in the cursors table if nobody has: True for the one caller that did,
    False for every other (another instance, a repeat) — at most once, whoever asks and
    however they race, because the name is the table's key. Used before a message that must
    go out once: an admin alert, a hand-off notice. Raises :class:`LeaseLost` under a fence
    no longer held."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    fence.ready()
    with engine.begin() as conn:
        fence.hold(conn)
        done = conn.execute(dialect.insert(cursors).values(name=name, value=value, updated_at=at)
                            .on_conflict_do_nothing(index_elements=[cursors.c.name]).returning(cursors.c.name))
        return done.first() is not None
