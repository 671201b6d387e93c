"""Alembic environment for the store.

Migrations only run through ``SqlStore.migrate()``, which hands over an open connection in
``config.attributes["connection"]``; there is no ini file and no offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context

from companion.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through SqlStore.migrate(), which provides the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode recreates tables when later revisions need it.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
