"""Test databases: a fresh SQLite file or the local PostgreSQL test database.

PostgreSQL tests read ``ONCALL_TEST_POSTGRES_URL``. Without it they are skipped
locally but fail when ``CI=true``, so CI cannot pass by silently skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

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
