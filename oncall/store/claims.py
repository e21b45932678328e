"""Claiming work from the database when several instances share it.

On PostgreSQL any number of ``oncall run`` instances work on one database: rows are
claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` (a row another worker holds is passed
over, never waited for), deadlines are in the database's time (``now()``), so clock skew
between hosts cannot split a claim, and per-person work is serialised with transaction
advisory locks. SQLite serves one instance (see :mod:`.instance_lock`) and every transaction
takes the write lock at ``BEGIN IMMEDIATE``: a plain ``SELECT`` there claims as surely, and
the database's time is the host's — the worker's own clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Interval, Select, bindparam, func, text

from oncall.store.types import UTCDateTime

# Namespace of the advisory locks taken per person (the first key of the two-key form), so
# they never meet the schema-upgrade lock or another module's.
PERSON_LOCKS = 0x6F6E63


def shares_work(bind: Connection | Engine) -> bool:
    """True where several instances may claim the same rows (PostgreSQL); False on SQLite,
    where one instance owns the file."""
    return bind.dialect.name == "postgresql"


def database_now(shared: bool) -> ColumnElement[datetime]:
    """The current instant as the database tells it: ``now()`` on PostgreSQL (the start of the
    transaction); on SQLite the worker's clock, bound as ``b_db_now`` (:func:`time_params`).
    ``shared`` is :func:`shares_work`'s answer."""
    if shared:
        return func.now()
    return bindparam("b_db_now", type_=UTCDateTime())


def deadline(shared: bool) -> ColumnElement[datetime]:
    """A claim's deadline: ``b_claim_for`` after :func:`database_now` (:func:`time_params`)."""
    if shared:
        return func.now() + bindparam("b_claim_for", type_=Interval())
    return bindparam("b_deadline", type_=UTCDateTime())


def time_params(now: datetime, claim_for: timedelta) -> dict[str, object]:
    """The parameters :func:`database_now` and :func:`deadline` read: ``now`` is the worker's
    clock, which only SQLite uses."""
    return {"b_db_now": now, "b_claim_for": claim_for, "b_deadline": now + claim_for}


def lock_people(conn: Connection, people: Iterable[str]) -> None:
    """Serialise work on each person (reply codes, storm limit) with the other instances'
    transactions until this one ends: advisory locks taken in one statement, in the keys'
    order, so two workers never wait for each other in a circle. A no-op on SQLite (one
    writer)."""
    if not shares_work(conn):
        return
    keys = sorted({_key(person) for person in people})
    if keys:
        conn.execute(_LOCK_PEOPLE, {"space": PERSON_LOCKS, "keys": keys})


# An aggregate over the array, so each lock is taken as its row is read: in the array's order.
_LOCK_PEOPLE = text("SELECT count(pg_advisory_xact_lock(:space, k)) FROM unnest(CAST(:keys AS integer[])) AS k")


def _key(name: str) -> int:
    """A stable signed 32-bit key for ``name`` (``hash()`` differs between processes)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big", signed=True)


def bound_idleness(conn: Connection, span: timedelta) -> None:
    """End this transaction — and release what it claimed — if its worker goes quiet for
    ``span`` in the middle of it (a frozen process, a lost host): PostgreSQL closes the
    session, the rows go back to the other instances, and the frozen worker's later writes
    fail with it. A no-op on SQLite. (PostgreSQL does not time the silence that follows a
    pipelined executemany until the next statement: the claims write their rows in single
    statements — inserts with RETURNING — for that reason.)"""
    if shares_work(conn):
        conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {millis(span)}"))


def bounded(query: Select[Any], shared: bool) -> Select[Any]:
    """``query`` also doing :func:`bound_idleness` in the same round trip (PostgreSQL: one
    more column, ``set_config`` local to the transaction; the limit is the ``b_idle``
    parameter, :func:`millis`). Unchanged on SQLite."""
    if not shared:
        return query
    return query.add_columns(func.set_config("idle_in_transaction_session_timeout", bindparam("b_idle"), True)
                             .label("idle_bound"))


def millis(span: timedelta) -> str:
    return str(int(span.total_seconds() * 1000))
