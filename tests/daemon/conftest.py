"""Fixtures for the daemon wiring tests (helpers live in daemon_rig.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_rig import SATURDAY_NIGHT, MakeRig, Rig, write_config
from support.databases import scratch_postgres_database

from oncall.config.settings import Settings
from oncall.daemon import Daemon, open_store
from oncall.daemon.scheduler import Guard
from oncall.testing.clock import FakeClock
from oncall.testing.paging import RecordingTransport


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[MakeRig]:
    rigs: list[Rig] = []

    def make(start: datetime = SATURDAY_NIGHT, *, config: Path | None = None,
             transport: RecordingTransport | None = None, http: httpx.Client | None = None,
             may_run: Guard | None = None, **settings: Any) -> Rig:
        conf = config or write_config(tmp_path / "config")
        clock = FakeClock(start)
        rec = transport or RecordingTransport()
        out = io.StringIO()
        values: dict[str, Any] = {"config": conf, "database_url": f"sqlite:///{tmp_path / 'oncall.db'}",
                                  "listen": "127.0.0.1:18080", "sources": {"generic": {"secret": "s3cret"}}}
        values.update(settings)
        daemon = Daemon(Settings(**values), engine=open_store(values["database_url"]), clock=clock, transport=rec,
                        http=http, may_run=may_run, handle_signals=False, out=out)
        rig = Rig(daemon=daemon, clock=clock, transport=rec, config=conf, out=out)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.daemon.http.close()
        rig.daemon.engine.dispose()


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One database for several instances (daemons built over it): an SQLite file, then a
    scratch PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    with scratch_postgres_database("oncall_shared") as url:
        yield url
