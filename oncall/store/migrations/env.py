"""Alembic environment: always run programmatically with a connection passed in
``config.attributes["connection"]`` (see :func:`oncall.store.db.upgrade`)."""

from __future__ import annotations

from alembic import context

from oncall.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through oncall.store.db.upgrade(engine)")
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
