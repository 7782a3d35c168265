"""Alembic's entry point: runs the migrations on the connection ``core.runtime.migrations``
hands over (never on a URL of its own, so the caller's database lock covers them)."""

from __future__ import annotations

from alembic import context

from core.runtime.schema import metadata


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    # Batch mode lets ALTER-style operations run on SQLite too (it copies the table).
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


# Alembic executes this file with its context set up; a plain import (the architecture test
# imports every core module) finds no context and does nothing.
if hasattr(context, "config"):
    run_migrations()
