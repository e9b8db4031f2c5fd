"""The database engine: built once at start, tuned for SQLite, closed at shutdown."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.errors import ConfigError, StorageError
from storage import schema

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 15
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
POSTGRES_COMMAND_TIMEOUT_SECONDS = 60


class Database:
    """The engine and the session factory, shared by every repository.

    Each unit of work opens its own ``AsyncSession`` from ``sessions``; sessions are never
    shared between concurrent tasks.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)

    @property
    def kind(self) -> str:
        """The database's dialect name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, fit for a log line."""
        return self.engine.url.render_as_string(hide_password=True)

    async def migrate(self) -> str | None:
        """Bring the schema up to the newest revision (see ``storage.schema``).

        Returns:
            The revision the database is at afterwards.

        Raises:
            StorageError: The database cannot be reached or refused a migration.
        """
        try:
            return await schema.upgrade(self.engine)
        except (SQLAlchemyError, OSError) as error:
            raise StorageError(
                f"could not migrate {self.safe_url}: {type(error).__name__}: {error}"
            ) from error

    async def check_schema(self) -> None:
        """Make sure the schema is at the newest revision, without changing anything.

        Raises:
            ConfigError: The database is behind (or ahead of) the code; the message says to
                run ``bitcoin-analyzer migrate``.
            StorageError: The database cannot be reached.
        """
        try:
            current = await schema.current_revision(self.engine)
        except (SQLAlchemyError, OSError) as error:
            raise StorageError(
                f"could not read the schema revision of {self.safe_url}: {type(error).__name__}"
            ) from error
        head = schema.head_revision()
        if current != head:
            raise ConfigError(
                f"The database schema is at revision {current or 'none'} but this version "
                f"needs {head}: run `bitcoin-analyzer migrate` (or set AUTO_MIGRATE=true)"
            )

    async def size_bytes(self) -> int | None:
        """The database's size on disk (SQLite file and its journal, or PostgreSQL's count)."""
        if self.kind == "sqlite":
            path = self.engine.url.database
            if not path or path == ":memory:":
                return None
            return await asyncio.to_thread(_file_sizes, Path(path), Path(f"{path}-wal"))
        if self.kind == "postgresql":
            async with self.engine.connect() as connection:
                size = await connection.scalar(text("SELECT pg_database_size(current_database())"))
            return int(size) if size is not None else None
        return None

    async def create_schema(self) -> None:
        """Bring the schema up to date through the migrations, like :meth:`migrate`."""
        await self.migrate()

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def open_database(url: str) -> Database:
    """Build the engine for a SQLAlchemy URL; SQLite gets WAL and a busy timeout.

    Args:
        url: Any async SQLAlchemy URL (``sqlite+aiosqlite:///...``,
            ``postgresql+asyncpg://...``).

    Raises:
        ConfigError: The URL cannot be understood, or names a driver that is not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigError("Invalid setting DATABASE_URL: not a database URL") from error

    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(
            "Invalid setting DATABASE_URL: only sqlite and postgresql databases are supported"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.drivername != "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")

    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["timeout"] = POSTGRES_CONNECT_TIMEOUT_SECONDS
        connect_args["command_timeout"] = POSTGRES_COMMAND_TIMEOUT_SECONDS
    if parsed.get_backend_name() == "sqlite":
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_SECONDS
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigError(
                    f"Invalid setting DATA_DIR: cannot create the folder {folder}: "
                    f"{error.strerror or error}"
                ) from error

    try:
        engine = create_async_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except (ArgumentError, ImportError, SQLAlchemyError) as error:
        raise ConfigError(f"Invalid setting DATABASE_URL: {type(error).__name__}") from error

    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)

    logger.info("Database %s opened", engine.url.render_as_string(hide_password=True))
    return Database(engine)


def _file_sizes(*paths: Path) -> int:
    return sum(path.stat().st_size for path in paths if path.exists())


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Switch SQLite to WAL, so readers never wait for the writer, and wait when busy."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
