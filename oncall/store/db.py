"""Database engine and schema upgrades.

``ONCALL_DATABASE_URL`` is an SQLAlchemy URL; without it oncall uses an SQLite file
under ``./var/``. SQLite runs in WAL mode with a busy timeout, and every
transaction starts with ``BEGIN IMMEDIATE`` so two writers queue up instead of
failing with "database is locked" when a reader upgrades to a writer.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError

from oncall.errors import StoreError
from oncall.store import revisions

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///./var/oncall.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x6F6E63616C6C  # "oncall": the advisory lock that serialises schema upgrades
PING_AFTER_IDLE = 2.0  # seconds a pooled server connection may sit unused before it is checked


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else ``ONCALL_DATABASE_URL``, else the default."""
    return url or os.environ.get("ONCALL_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str | None = None, *, idle_limit: timedelta | None = None, **kwargs: Any) -> Engine:
    """An Engine for ``url`` (see :func:`database_url`); creates the SQLite directory.

    ``idle_limit`` (the daemon's ``ONCALL_FAILOVER_SECONDS``): on PostgreSQL, every session of
    the engine is ended by the server when it sits that long idle in the middle of a
    transaction — a process frozen there (SIGSTOP, a paused VM, a host gone without a word)
    gives back the rows it locked to the other instances within the failover bound, whatever
    it was doing: an acknowledgement half written holds its incident no longer. The claims
    and fenced duties set the same bound on their own transactions (``SET LOCAL``)."""
    parsed = make_url(database_url(url))
    if parsed.get_backend_name() != "sqlite":
        engine = _pinging_when_idle(create_engine(parsed, **kwargs))
        if idle_limit is not None:
            _bounding_idleness(engine, idle_limit)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        # FULL: a ticket answered with 202 must survive a power cut, not only a crash
        # (NORMAL in WAL mode may lose the last commits on power loss).
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _bounding_idleness(engine: Engine, limit: timedelta) -> None:
    millis = max(1, int(limit.total_seconds() * 1000))

    @event.listens_for(engine, "connect")
    def _bound(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"SET idle_in_transaction_session_timeout = {millis}")
        finally:
            cursor.close()
        dbapi_conn.commit()


def _pinging_when_idle(engine: Engine) -> Engine:
    """Check a pooled connection before use only when it has sat idle for
    :data:`PING_AFTER_IDLE` seconds (a server restarted or a failover meanwhile): one that
    fails is replaced at once. SQLAlchemy's ``pool_pre_ping`` pings at every checkout, one
    more round trip for each of the worker's transactions; a connection back in the pool a
    moment ago needs none."""

    @event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_conn.rollback()
        except Exception as exc:  # gone: the pool drops it and checks out another
            raise DisconnectionError(str(exc)) from exc

    return engine


def alembic_config() -> Config:
    from alembic.config import Config  # alembic only to migrate: see oncall.store.revisions

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (run at start-up; a no-op when current).

    Raises :class:`StoreError` when the database was migrated by a newer oncall: an older
    version must not run against a schema it does not know (restore the backup taken before
    the upgrade to roll back)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Instances started together on a fresh database would race to create the same
            # tables; the first takes the lock and migrates, the others then find it current.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        current = _stored_revision(conn)
        if current is not None and not revisions.known(current):
            raise StoreError(f"{engine.url.render_as_string(hide_password=True)} was written by a newer "
                             f"oncall (schema {current}); this one runs schema {head_revision()}: install the "
                             "newer version, or restore the backup taken before the upgrade")
        if current is not None and current == (head_revision() if revision == "head" else revision):
            return  # current: no alembic in this process
        from alembic import command

        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def redacted(url: str) -> str:
    """``url`` fit to print: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say so without echoing what might be a secret
        return "<unparsable database URL>"


def head_revision() -> str:
    """The schema revision this version of oncall runs on."""
    return revisions.head()


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database; ``None`` when it has no oncall schema."""
    with engine.connect() as conn:
        return _stored_revision(conn)


def _stored_revision(conn: Connection) -> str | None:
    """What alembic recorded in ``alembic_version`` (``None``: no table, or no row)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return read_revision(conn)


def read_revision(conn: Connection) -> str | None:
    """The revision recorded in ``alembic_version``, in one small query: the schema gate asks
    every second (alembic's own reader logs each time). ``None``: no row; the table missing
    raises the driver's error. Raises :class:`StoreError` for several rows."""
    found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(found) > 1:
        raise StoreError(f"the database records {len(found)} schema revisions ({', '.join(found)}), not one")
    return found[0] if found else None


def open_existing(url: str, *, origin: str) -> Engine:
    """An Engine over the service's existing database, at this version's schema.

    Never creates anything: commands that read or change state must act on the database
    the service uses, not on a new empty one. ``origin`` says where the URL came from; every
    refusal is one line naming the place looked at and what to do. Raises :class:`StoreError`.
    """
    try:
        parsed = make_url(url)
    except Exception:
        raise StoreError(f"database URL {origin} cannot be parsed") from None
    shown = redacted(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError(f"database URL {shown} ({origin}) names no file")
        path = Path(parsed.database).resolve()
        if not path.is_file():
            raise StoreError(
                f"no oncall database at {path} ({origin}); point ONCALL_DATABASE_URL, or --config DIR whose "
                "oncall.toml sets database_url, at the service's database (e.g. oncall --config /etc/oncall …)")
    engine = make_engine(url)
    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise StoreError(f"cannot open the database {shown} ({origin}): {reason}") from None
    head = head_revision()
    if revision == head:
        return engine
    engine.dispose()
    if revision is None:
        raise StoreError(f"{shown} ({origin}) holds no oncall data: is it the service's database? "
                         "The daemon creates its tables when it first starts")
    if not revisions.known(revision):
        raise StoreError(f"{shown} ({origin}) was written by a newer oncall (schema {revision}); "
                         f"this one runs schema {head}: upgrade this installation")
    raise StoreError(f"{shown} ({origin}) is at schema {revision}, this oncall needs {head}: "
                     "restart the upgraded service (it migrates at start) or run `oncall db upgrade`")


def backup_sqlite(url: str, target: Path) -> int:
    """Copy a live SQLite database to ``target`` with SQLite's online backup (consistent while
    the daemon writes). Returns the pages copied. Raises :class:`StoreError`."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise StoreError(f"{redacted(url)} is not an SQLite file: back PostgreSQL up with pg_dump")
    source_path = Path(parsed.database)
    if not source_path.is_file():
        raise StoreError(f"no SQLite database at {source_path.resolve()}")
    if target.exists():
        raise StoreError(f"{target} exists: choose a new file name")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
            pages = int(dest.execute("PRAGMA page_count").fetchone()[0])
        finally:
            dest.close()
    except sqlite3.Error as exc:
        raise StoreError(f"backup of {source_path} to {target} failed: {exc}") from None
    finally:
        source.close()
    return pages
