"""Storage contract: the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from oncall.store.db import DEFAULT_URL, database_url, head_revision, make_engine, upgrade
from oncall.store.inbox import Inbox, get_cursor, set_cursor
from oncall.store.tables import cursors, incidents, metadata

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def test_migration_matches_the_tables(db: Engine) -> None:
    with db.connect() as conn:
        assert [] == compare_metadata(MigrationContext.configure(conn), metadata)


def test_upgrade_twice_is_a_no_op(db: Engine) -> None:
    upgrade(db)
    with db.connect() as conn:
        assert head_revision() == conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_receive_is_idempotent_per_source_and_key(db: Engine) -> None:
    inbox = Inbox(db)
    first = inbox.receive("zendesk", "ev-1", {"id": "T-1", "priority": "urgent"}, T0)
    again = inbox.receive("zendesk", "ev-1", {"id": "T-1", "priority": "urgent"}, T0)
    other_source = inbox.receive("jira", "ev-1", {"id": "T-1"}, T0)
    assert first[1] is True
    assert (first[0], False) == again
    assert other_source[1] is True and other_source[0] != first[0]


def test_unprocessed_then_processed(db: Engine) -> None:
    inbox = Inbox(db)
    a, _ = inbox.receive("generic", "a", {"id": "1"}, T0)
    b, _ = inbox.receive("generic", "b", {"id": "2"}, T0)
    assert [a, b] == [i.id for i in inbox.unprocessed(10)]
    inbox.mark_processed(a, "paged", T0 + timedelta(seconds=1))
    assert [b] == [i.id for i in inbox.unprocessed(10)]
    assert [] == inbox.unprocessed(0)


def test_last_ticket_state_is_the_latest_processed_event(db: Engine) -> None:
    inbox = Inbox(db)
    a, _ = inbox.receive("generic", "a", {"id": "T", "priority": "high"}, T0)
    b, _ = inbox.receive("generic", "b", {"id": "T", "priority": "urgent"}, T0)
    assert inbox.last_ticket_state("generic", "T") is None
    inbox.mark_processed(a, "ignored", T0)
    inbox.mark_processed(b, "paged", T0)
    assert "urgent" == inbox.last_ticket_state("generic", "T")["priority"]  # type: ignore[index]
    before_b = inbox.last_ticket_state("generic", "T", before_id=b)
    assert "high" == before_b["priority"]  # type: ignore[index]
    assert inbox.last_ticket_state("generic", "other") is None


def test_last_states_for_a_batch_in_one_query(db: Engine) -> None:
    inbox = Inbox(db)
    assert [True, True, True, False] == inbox.receive_many([
        ("generic", "a", {"id": "T", "priority": "high"}, T0), ("generic", "b", {"id": "T", "priority": "urgent"}, T0),
        ("zendesk", "c", {"id": "T", "priority": "low"}, T0), ("generic", "a", {"id": "T"}, T0)])
    a, b, c = inbox.unprocessed(10)
    inbox.mark_many([(a.id, "x"), (c.id, "y")], T0)
    d, _ = inbox.receive("generic", "d", {"id": "U"}, T0)
    found = inbox.last_states({("generic", "T"), ("zendesk", "T"), ("generic", "U")}, before_id=d)
    assert {("generic", "T"): "high", ("zendesk", "T"): "low"} == {k: v["priority"] for k, v in found.items()}
    earlier = inbox.last_states({("generic", "T"), ("zendesk", "T")}, before_id=b.id)
    assert {("generic", "T"): "high"} == {k: v["priority"] for k, v in earlier.items()}
    assert {} == inbox.last_states(set(), before_id=d)


def test_cursor_set_get_replace(db: Engine) -> None:
    assert get_cursor(db, "zendesk") is None
    set_cursor(db, "zendesk", "abc", T0)
    set_cursor(db, "zendesk", "def", T0 + timedelta(minutes=1))
    assert "def" == get_cursor(db, "zendesk")
    with db.connect() as conn:
        assert T0 + timedelta(minutes=1) == conn.execute(select(cursors.c.updated_at)).scalar()


def test_timestamps_come_back_aware_and_equal_across_zones(db: Engine) -> None:
    tokyo = datetime(2026, 11, 26, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    set_cursor(db, "c", "v", tokyo)
    with db.connect() as conn:
        back = conn.execute(select(cursors.c.updated_at)).scalar_one()
    assert back.utcoffset() == timedelta(0)
    assert tokyo == back


def test_naive_timestamps_are_refused(db: Engine) -> None:
    with pytest.raises(Exception, match="naive"):
        set_cursor(db, "c", "v", datetime(2026, 1, 1))


def _incident(source: str, ticket: str, state: str) -> dict[str, object]:
    return {"source": source, "ticket_id": ticket, "state": state, "policy_id": "p",
            "policy_json": {}, "engine_state": {}, "created_at": T0, "updated_at": T0}


def test_at_most_one_open_incident_per_ticket(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(insert(incidents), [_incident("g", "T", "resolved"),
                                         _incident("g", "T", "cancelled"),
                                         _incident("g", "T", "triggered"),
                                         _incident("g", "U", "acknowledged")])
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(insert(incidents).values(**_incident("g", "T", "acknowledged")))


def test_default_url_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONCALL_DATABASE_URL", raising=False)
    assert DEFAULT_URL == database_url()
    monkeypatch.setenv("ONCALL_DATABASE_URL", "postgresql+psycopg://x@h/db")
    assert "postgresql+psycopg://x@h/db" == database_url()
    assert "sqlite:///a.db" == database_url("sqlite:///a.db")


def test_sqlite_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")
    with engine.connect() as conn:
        assert "wal" == conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    engine.dispose()
