"""Named leases and the writes made under them, on SQLite and PostgreSQL.

Expiry is made by moving a lease's ``expires_at`` into the past in the database, never by
waiting for it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text, update
from support.databases import fresh_engine

from oncall.errors import LeaseLost
from oncall.store.inbox import get_cursor, set_cursor
from oncall.store.leases import Fence, LeaseStore, claim_once, fenced_set_cursor
from oncall.store.tables import leases

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
LIFE = timedelta(seconds=30)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Engine]:
    """PostgreSQL only: where several instances share the leases."""
    engine = fresh_engine("postgres", tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Engine]:
    engine = fresh_engine("sqlite", tmp_path)
    yield engine
    engine.dispose()


def store(db: Engine, owner: str, now: datetime = T0) -> LeaseStore:
    return LeaseStore(db, owner, clock=lambda: now)


def expire(db: Engine, name: str) -> None:
    """The lease ran out, in the database's time (an hour ago on either clock)."""
    with db.begin() as conn:
        conn.execute(update(leases).where(leases.c.name == name).values(expires_at=T0 - timedelta(hours=1)))


def fence(lease_store: LeaseStore, name: str, token: int) -> Fence:
    f = Fence(lease_store, name, idle_limit=timedelta(seconds=5))
    f.token = token
    return f


def test_a_free_lease_is_granted_and_renewed_by_its_holder_with_the_same_token(db: Engine) -> None:
    a = store(db, "host-a:1:aa")
    first = a.acquire("poll:zendesk", LIFE)
    again = a.acquire("poll:zendesk", LIFE)
    assert first is not None and again is not None
    assert (1, 1) == (first.token, again.token)
    assert ["host-a:1:aa"] == [row.owner for row in a.rows()]


@pytest.mark.postgres
def test_a_lease_another_holds_is_refused_until_it_expires_then_taken_with_the_next_token(pg: Engine) -> None:
    a, b = store(pg, "a"), store(pg, "b")
    assert a.acquire("writeback", LIFE) is not None
    assert b.acquire("writeback", LIFE) is None
    expire(pg, "writeback")
    taken = b.acquire("writeback", LIFE)
    assert taken is not None and 2 == taken.token
    assert a.acquire("writeback", LIFE) is None  # the old holder, back: refused
    assert [("b", 2)] == [(r.owner, r.token) for r in b.rows()]


@pytest.mark.postgres
def test_expiry_is_judged_on_the_database_clock_not_the_hosts(pg: Engine) -> None:
    """A host whose clock runs a century ahead still waits for the lease to expire."""
    a = store(pg, "a")
    ahead = LeaseStore(pg, "b", clock=lambda: datetime(2126, 1, 1, tzinfo=UTC))
    grant = a.acquire("deadman", LIFE)
    assert grant is not None
    assert ahead.acquire("deadman", LIFE) is None
    with pg.connect() as conn:
        db_now = conn.execute(text("SELECT now()")).scalar_one()
    assert abs((grant.expires_at - db_now) - LIFE) < timedelta(seconds=5)


@pytest.mark.postgres
def test_a_released_lease_is_taken_at_once(pg: Engine) -> None:
    a, b = store(pg, "a"), store(pg, "b")
    grant = a.acquire("handoffs", LIFE)
    assert grant is not None
    assert a.release("handoffs", grant.token)
    taken = b.acquire("handoffs", LIFE)
    assert taken is not None and 2 == taken.token


def test_on_sqlite_one_instance_owns_the_file_so_a_new_owner_takes_a_lease_at_once(lite: Engine) -> None:
    """The instance lock makes a second owner a restarted daemon: it does not wait."""
    before, after = store(lite, "host:1:aa"), store(lite, "host:2:bb")
    assert before.acquire("silence", LIFE) is not None
    taken = after.acquire("silence", LIFE)
    assert taken is not None and 2 == taken.token


def test_a_write_under_a_lease_taken_since_is_refused_and_writes_nothing(db: Engine) -> None:
    """The frozen holder wakes with token 1; the lease is now the other instance's token 2."""
    a, b = store(db, "a"), store(db, "b")
    grant = a.acquire("poll:zendesk", LIFE)
    assert grant is not None
    stale = fence(a, "poll:zendesk", grant.token)
    fenced_set_cursor(db, stale, "poll:zendesk", "page-1", T0)
    expire(db, "poll:zendesk")
    taken = b.acquire("poll:zendesk", LIFE)
    assert taken is not None
    fenced_set_cursor(db, fence(b, "poll:zendesk", taken.token), "poll:zendesk", "page-7", T0)
    lost: list[tuple[str, int]] = []
    stale.on_lost = lambda name, token: lost.append((name, token))
    with pytest.raises(LeaseLost, match="poll:zendesk"):
        fenced_set_cursor(db, stale, "poll:zendesk", "page-2", T0)
    assert "page-7" == get_cursor(db, "poll:zendesk")
    assert [("poll:zendesk", grant.token)] == lost
    assert stale.token is None


@pytest.mark.postgres
def test_a_write_under_an_expired_lease_is_refused_even_if_nobody_took_it(pg: Engine) -> None:
    a = store(pg, "a")
    grant = a.acquire("writeback", LIFE)
    assert grant is not None
    expire(pg, "writeback")
    with pytest.raises(LeaseLost):
        fenced_set_cursor(pg, fence(a, "writeback", grant.token), "writeback:audit", "9", T0)
    assert get_cursor(pg, "writeback:audit") is None


def test_claim_once_lets_exactly_one_of_many_racing_callers_through(db: Engine) -> None:
    set_cursor(db, "unrelated", "x", T0)
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def claim() -> None:
        start.wait(5)
        won = claim_once(db, "alert:gap-now:primary:2026-11-26T03:00", T0.isoformat(), T0)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [False] * 5 + [True] == sorted(results)


def test_claim_once_under_a_lost_lease_claims_nothing(db: Engine) -> None:
    a, b = store(db, "a"), store(db, "b")
    grant = a.acquire("handoffs", LIFE)
    assert grant is not None
    expire(db, "handoffs")
    assert b.acquire("handoffs", LIFE) is not None
    with pytest.raises(LeaseLost):
        claim_once(db, "handoff:primary:bob:2026-11-26T08:00:00+00:00", "x", T0, fence(a, "handoffs", grant.token))
    assert get_cursor(db, "handoff:primary:bob:2026-11-26T08:00:00+00:00") is None
