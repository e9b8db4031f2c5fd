"""Fixtures shared by every test, and the guard that fails any unplanned network call."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import os
import shutil
import socket
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings, load_settings
from storage.database import Database, open_database
from tests.support.postgres import (
    INSTALL_HINT,
    PostgresServer,
    find_binaries,
    running_postgres,
)
from tests.support.scripted_server import (  # noqa: F401 - fixtures shared by name
    http_client,
    scripted_server,
)
from tests.support.seeded import seeded_template  # noqa: F401 - fixture shared by name

FIXTURES = Path(__file__).parent / "fixtures"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_local(host: object) -> bool:
    if not isinstance(host, str):
        return True  # a Unix socket path as bytes, or a socketpair
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_outside_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse, and record, any connection or name lookup beyond the loopback interface.

    The product may catch the refusal and carry on, so the test fails at teardown whenever
    an attempt was recorded, whatever the product did with the error.
    """
    attempts: list[str] = []

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_local(name):
            attempts.append(f"lookup {name}")
            raise socket.gaierror(f"test network guard: lookup of {name} refused")
        return _real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_local(address[0]):
            attempts.append(f"connect {address[0]}")
            raise ConnectionRefusedError(f"test network guard: connection to {address[0]} refused")

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        check(address)
        return _real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        check(address)
        return _real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield attempts
    assert attempts == [], f"unplanned network calls: {attempts}"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test in an empty folder with none of the developer's settings or secrets."""
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a bot with its SQLite file in the test's folder and no secrets."""
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def seeded_database_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the embedded data set, imported once for the whole run."""
    from core.importer import Importer
    from storage.repositories import NewsRepository, PriceRepository

    path = tmp_path_factory.mktemp("seeded") / "bitcoin_analyzer.db"

    async def seed() -> None:
        database = open_database(f"sqlite+aiosqlite:///{path}")
        await database.create_schema()
        await Importer(PriceRepository(database), NewsRepository(database)).import_embedded()
        await database.close()

    asyncio.run(seed())
    return path


@pytest.fixture
def seeded_settings(tmp_path: Path, seeded_database_file: Path) -> Settings:
    """Settings whose data folder starts with a copy of the seeded database."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(seeded_database_file, data_dir / "bitcoin_analyzer.db")
    return load_settings(data_dir=data_dir)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this machine's binaries, on 127.0.0.1, for the whole run.

    On CI (``CI=true``) missing binaries fail every test that needs the server; elsewhere
    those tests are skipped, with the reason.
    """
    binaries = find_binaries()
    if binaries is None:
        reason = f"PostgreSQL server binaries (initdb, postgres) not found; {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(f"{reason}. CI=true: the PostgreSQL tests must run, not skip.")
        pytest.skip(reason)

    with running_postgres(binaries) as server:
        _run_aside(_create_template(server))
        yield server


# A database migrated once; each test gets a copy (CREATE DATABASE ... TEMPLATE), which is
# much quicker than running the migrations again.
POSTGRES_TEMPLATE = "migrated_template"
_database_numbers = itertools.count(1)


def _run_aside(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to its end in a thread of its own: a test's event loop may be running."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, coroutine).result(timeout=120)


async def _create_template(server: PostgresServer) -> None:
    import asyncpg

    connection = await asyncpg.connect(server.dsn(), timeout=10)
    try:
        await connection.execute(f"CREATE DATABASE {POSTGRES_TEMPLATE}")
    finally:
        await connection.close()
    database = open_database(server.url(POSTGRES_TEMPLATE))
    try:
        await database.migrate()
    finally:
        await database.close()


async def _postgres_command(server: PostgresServer, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(server.dsn(), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _new_postgres_database(server: PostgresServer, template: str) -> Iterator[str]:
    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    _run_aside(_postgres_command(server, f"CREATE DATABASE {name} TEMPLATE {template}"))
    yield server.url(name)
    _run_aside(_postgres_command(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new PostgreSQL database of this test's own, migrated to the newest revision."""
    yield from _new_postgres_database(postgres_server, POSTGRES_TEMPLATE)


@pytest.fixture
def blank_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new PostgreSQL database of this test's own, with no table at all."""
    yield from _new_postgres_database(postgres_server, "template0")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def database(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Database]:
    """An empty database with the newest schema: a SQLite file, then a PostgreSQL database."""
    if request.param == "postgresql":
        database = open_database(request.getfixturevalue("postgres_url"))
    else:
        database = open_database(settings.resolved_database_url)
        await database.migrate()
    yield database
    await database.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def blank_database(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[Database]:
    """A database with no table at all, never migrated: a SQLite file, then PostgreSQL."""
    if request.param == "postgresql":
        database = open_database(request.getfixturevalue("blank_postgres_url"))
    else:
        database = open_database(settings.resolved_database_url)
    yield database
    await database.close()
