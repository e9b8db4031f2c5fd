"""The schema's versions: Alembic revisions in ``storage/migrations``, applied from code.

The same revisions serve SQLite and PostgreSQL. An upgrade runs in one transaction on the
bot's own engine; on PostgreSQL it first takes an advisory lock, so that replicas starting
together migrate one after the other and the later ones find nothing left to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Base

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The schema that create_all made before migrations existed: a database holding these tables
# and no version is stamped at this revision, then upgraded like any other.
BASELINE_REVISION = "0001"
BASELINE_TABLES = frozenset({"prices", "news", "analyses", "source_status", "data_gaps"})
VERSION_TABLE = "alembic_version"
# Any fixed 64-bit number; it names the lock that serialises migrations on PostgreSQL.
MIGRATION_LOCK_KEY = 7_301_582_045_117_364_001


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: no alembic.ini is needed at run time.

    Args:
        connection: The connection the revisions run on (see ``migrations/env.py``).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration revision found in {MIGRATIONS}")
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Bring the schema up to ``revision``, adopting a database made before migrations.

    Returns:
        The revision the database is at afterwards.
    """
    async with _alembic_turn(), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        return await connection.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> str | None:
    """Take the schema back to ``revision`` (``base`` drops every table).

    Returns:
        The revision the database is at afterwards.
    """
    async with _alembic_turn(), engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
        return await connection.run_sync(_current_revision)


async def differences(engine: AsyncEngine) -> list[Any]:
    """What Alembic's autogenerate finds between the database and the models; empty if none.

    Returns:
        Alembic's diff tuples (``("add_table", Table)``, ``("modify_type", ...)``...).
    """
    async with engine.connect() as connection:
        return await connection.run_sync(_differences)


# Alembic's ``op`` and ``context`` are process-wide proxies: two migrations running at once in
# one process (two event loops in two threads, or two tasks of one loop) would overwrite
# each other's. The lock is taken from a worker thread, so waiting never blocks a loop.
_ALEMBIC_LOCK = threading.Lock()


@contextlib.asynccontextmanager
async def _alembic_turn() -> AsyncIterator[None]:
    await asyncio.to_thread(_ALEMBIC_LOCK.acquire)
    try:
        yield
    finally:
        _ALEMBIC_LOCK.release()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection, revision: str) -> str | None:
    config = alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE not in tables and BASELINE_TABLES <= tables:
        logger.info("Database made before migrations: stamping it at %s", BASELINE_REVISION)
        command.stamp(config, BASELINE_REVISION)

    before = _current_revision(connection)
    command.upgrade(config, revision)
    after = _current_revision(connection)
    if after != before:
        logger.info("Database schema migrated from %s to %s", before or "nothing", after)
    return after


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))
