"""Test databases: a fresh SQLite file or the local PostgreSQL test database.

PostgreSQL tests read ``ONCALL_TEST_POSTGRES_URL``. Without it they are skipped
locally but fail when ``CI=true``, so CI cannot pass by silently skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from oncall.store.db import make_engine, upgrade
from oncall.store.tables import metadata

POSTGRES_ENV = "ONCALL_TEST_POSTGRES_URL"


def postgres_url() -> str:
    """The PostgreSQL test URL, or skip (fail on CI) when it is not configured."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{POSTGRES_ENV} is not set on CI: PostgreSQL tests must run there")
    pytest.skip(f"{POSTGRES_ENV} not set")


def fresh_engine(backend: str, tmp_path: Path) -> Engine:
    """An upgraded, empty database on ``backend`` ("sqlite" or "postgres")."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'oncall.db'}")
    else:
        engine = make_engine(postgres_url())
        with engine.begin() as conn:
            metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(engine)
    return engine


@contextmanager
def scratch_postgres_database(prefix: str = "oncall_scratch") -> Iterator[str]:
    """A new, empty PostgreSQL database of its own (the test role has CREATEDB), dropped after:
    for tests where several processes start on a fresh database, as instances do."""
    admin = make_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(postgres_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
