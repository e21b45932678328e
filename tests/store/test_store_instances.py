"""Several processes on one database: schema upgrades serialised on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from support.databases import scratch_postgres_database

from oncall.daemon.wiring import open_store
from oncall.store import db
from oncall.store.db import current_revision, head_revision, make_engine

UPGRADE = "import sys; from oncall.store.db import make_engine, upgrade; upgrade(make_engine(sys.argv[1]))"


@pytest.mark.postgres
def test_instances_started_together_on_a_fresh_database_all_come_up() -> None:
    """Before the lock, one of three racing upgrades died on a duplicate pg_type row."""
    for _ in range(3):
        with scratch_postgres_database() as url:
            procs = [subprocess.Popen([sys.executable, "-c", UPGRADE, url], stderr=subprocess.PIPE, text=True)
                     for _ in range(3)]
            errors = [p.communicate(timeout=120)[1] for p in procs]
            assert [0, 0, 0] == [p.returncode for p in procs], errors
            engine = make_engine(url)
            assert head_revision() == current_revision(engine)
            with engine.connect() as conn:
                assert 1 == conn.execute(text("SELECT count(*) FROM alembic_version")).scalar()
            engine.dispose()


@pytest.mark.postgres
def test_a_pooled_connection_dropped_while_idle_is_replaced_when_next_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pooled server connections are checked only after sitting idle (not at every checkout):
    one the server dropped meanwhile is replaced, and the caller never sees it."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    with scratch_postgres_database() as url:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                dropped = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            admin = make_engine(url)
            with admin.connect() as conn:
                assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped}).scalar()
            admin.dispose()
            with engine.connect() as conn:
                assert dropped != conn.execute(text("SELECT pg_backend_pid()")).scalar()
        finally:
            engine.dispose()


@pytest.mark.postgres
def test_a_session_frozen_in_a_transaction_gives_its_locks_back_after_the_idle_limit() -> None:
    """An instance frozen in the middle of any transaction (an acknowledgement half written, not
    only a claim) holds its row locks for the failover bound at most: the server ends its
    session, the other instance's wait ends, and the frozen one's next statement fails."""
    with scratch_postgres_database() as url:
        frozen = make_engine(url, idle_limit=timedelta(milliseconds=400))
        other = make_engine(url)
        try:
            with other.begin() as conn:
                conn.execute(text("CREATE TABLE held (id integer PRIMARY KEY, state text)"))
                conn.execute(text("INSERT INTO held VALUES (1, 'triggered')"))
            with frozen.connect() as stuck:
                stuck.begin()
                stuck.execute(text("UPDATE held SET state = 'acknowledged' WHERE id = 1"))
                # the process stops here; the other instance waits for the row (10 s at most)
                with other.begin() as conn:
                    conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                    assert "triggered" == conn.execute(text("SELECT state FROM held WHERE id = 1 FOR UPDATE")).scalar()
                with pytest.raises(DBAPIError, match="idle-in-transaction"):
                    stuck.execute(text("SELECT 1"))
        finally:
            frozen.dispose()
            other.dispose()


@pytest.mark.postgres
def test_the_daemons_store_bounds_every_sessions_idle_transactions_by_the_failover_bound() -> None:
    with scratch_postgres_database() as url:
        bounded = open_store(url, timedelta(seconds=15))
        plain = make_engine(url)
        try:
            with bounded.connect() as conn:
                assert "15s" == conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
            with plain.connect() as conn:
                assert "0" == conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
        finally:
            bounded.dispose()
            plain.dispose()
