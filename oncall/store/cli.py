"""``oncall db``: the service's database — status, schema upgrade, online backup.

Like every command that reads or changes state, these act on the database the service
uses (``ONCALL_DATABASE_URL``, or ``database_url`` in the configuration directory's
``oncall.toml``) and never create one by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url

from oncall.errors import StoreError
from oncall.store.db import (
    backup_sqlite,
    current_revision,
    head_revision,
    make_engine,
    open_existing,
    redacted,
    upgrade,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"oncall: {message}", err=True)
    return typer.Exit(2)


def register(app: typer.Typer, settings: Callable[[], Any], origin: Callable[[Any], str]) -> None:
    """Add the ``db`` group (``status``, ``upgrade``, ``backup``) to ``app``."""
    group = typer.Typer(help="The service's database: schema status, upgrade, online backup.",
                        no_args_is_help=True)

    @group.command("status")
    def status() -> None:
        """Which database the CLI uses, and whether its schema is this version's."""
        s = settings()
        try:
            engine = open_existing(s.database_url, origin=origin(s))
        except StoreError as exc:
            raise _fail(str(exc)) from None
        engine.dispose()
        typer.echo(f"{redacted(s.database_url)} ({origin(s)}): schema {head_revision()}, current")

    @group.command("upgrade")
    def upgrade_command() -> None:
        """Migrate the database to this version's schema (the daemon also does this at start)."""
        s = settings()
        url = make_url(s.database_url)
        if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
            raise _fail(f"no SQLite database at {Path(url.database or '').resolve()} ({origin(s)}); "
                        "the daemon creates it when it first starts")
        engine = make_engine(s.database_url)
        try:
            before = current_revision(engine)
            upgrade(engine)
        finally:
            engine.dispose()
        head = head_revision()
        typer.echo(f"{redacted(s.database_url)}: schema {before or 'none'} → {head}"
                   if before != head else f"{redacted(s.database_url)}: schema {head}, already current")

    @group.command("backup")
    def backup(target: Annotated[Path, typer.Argument(metavar="FILE", help="new file to write")]) -> None:
        """Copy the live SQLite database to FILE, consistently, while the daemon runs."""
        s = settings()
        try:
            pages = backup_sqlite(s.database_url, target)
        except StoreError as exc:
            raise _fail(str(exc)) from None
        typer.echo(f"backed up {redacted(s.database_url)} to {target} ({pages} pages)")

    app.add_typer(group, name="db")
