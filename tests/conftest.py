"""Fixtures shared by every test, and the guard that fails any unplanned network call."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings, load_settings
from storage.database import Database, open_database
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


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """An empty file-based SQLite database with the schema created."""
    database = open_database(settings.resolved_database_url)
    await database.create_schema()
    yield database
    await database.close()
