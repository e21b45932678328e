"""Several processes on one database: schema upgrades serialised on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text
from support.databases import scratch_postgres_database

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
