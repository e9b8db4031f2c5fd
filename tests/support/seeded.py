"""A database seeded once per test session from the embedded real data set, copied per test.

Seeding the embedded prices and feeds takes about two seconds; tests that start several
runtimes copy one seeded SQLite file instead of seeding each time.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from core.importer import Importer
from storage.database import open_database
from storage.repositories import NewsRepository, PriceRepository

DATABASE_NAME = "bitcoin_analyzer.db"


async def _seed(path: Path) -> None:
    database = open_database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.create_schema()
        await Importer(PriceRepository(database), NewsRepository(database)).seed_if_empty()
    finally:
        await database.close()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the embedded real prices and headlines (do not write to it)."""
    path = tmp_path_factory.mktemp("seeded") / DATABASE_NAME
    asyncio.run(_seed(path))
    return path


def copy_seeded(template: Path, data_dir: Path) -> Path:
    """Put a copy of the seeded database where ``DATA_DIR=data_dir`` looks for it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / DATABASE_NAME
    shutil.copyfile(template, target)
    return target
