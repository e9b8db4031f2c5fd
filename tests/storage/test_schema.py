"""The migrations against the models, on SQLite and on the local PostgreSQL server."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect

from bot.__main__ import main
from core.candles import Candle, Interval
from core.errors import ConfigError
from core.runtime import Runtime
from core.settings import Settings, load_settings
from storage import schema
from storage.database import Database, open_database
from storage.models import Base
from storage.repositories import PriceRepository
from tests.core.real_candles import load_candles

MODEL_TABLES = set(Base.metadata.tables)


async def table_names(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_migrations_build_exactly_the_models_schema(blank_database: Database) -> None:
    missing = await schema.differences(blank_database.engine)

    revision = await blank_database.migrate()

    assert {change[1].name for change in missing if change[0] == "add_table"} == MODEL_TABLES

    assert revision == schema.head_revision()
    assert await table_names(blank_database) == MODEL_TABLES | {"alembic_version"}
    assert await schema.differences(blank_database.engine) == []


async def test_downgrade_to_base_drops_every_table_and_upgrade_builds_them_again(
    database: Database,
) -> None:
    await schema.downgrade(database.engine, "base")
    assert await table_names(database) == {"alembic_version"}

    await database.migrate()

    assert await schema.differences(database.engine) == []


async def test_migrating_an_up_to_date_database_changes_nothing(database: Database) -> None:
    await PriceRepository(database).upsert([real_candle()])

    assert await database.migrate() == schema.head_revision()
    assert await database.migrate() == schema.head_revision()
    assert await PriceRepository(database).count() == 1


def real_candle() -> Candle:
    """The first hourly candle of the embedded CryptoCompare file."""
    return load_candles("btc_usd_hourly_cryptocompare.csv", Interval.HOUR, "cryptocompare")[0]


async def test_a_database_made_before_migrations_is_adopted_with_its_rows(
    blank_database: Database,
) -> None:
    baseline = [Base.metadata.tables[name] for name in sorted(schema.BASELINE_TABLES)]
    async with blank_database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=baseline))
    await PriceRepository(blank_database).upsert([real_candle()])

    revision = await blank_database.migrate()

    assert revision == schema.head_revision()
    assert await PriceRepository(blank_database).count() == 1
    assert await schema.differences(blank_database.engine) == []


@pytest.mark.postgresql
async def test_replicas_starting_together_migrate_one_after_the_other(
    blank_postgres_url: str,
) -> None:
    replicas = [open_database(blank_postgres_url) for _ in range(3)]
    try:
        revisions = await asyncio.gather(*(replica.migrate() for replica in replicas))
    finally:
        for replica in replicas:
            await replica.close()

    assert revisions == [schema.head_revision()] * 3


async def test_check_schema_refuses_an_unmigrated_database_and_names_the_command(
    blank_database: Database,
) -> None:
    with pytest.raises(ConfigError, match="bitcoin-analyzer migrate"):
        await blank_database.check_schema()

    await blank_database.migrate()
    await blank_database.check_schema()


async def test_runtime_without_auto_migrate_refuses_to_start_on_an_old_schema(
    settings: Settings,
) -> None:
    manual = load_settings(data_dir=settings.data_dir, auto_migrate=False)

    with pytest.raises(ConfigError, match="AUTO_MIGRATE"):
        await Runtime.start(manual, seed=False)


async def test_runtime_migrates_at_start_by_default(settings: Settings) -> None:
    runtime = await Runtime.start(settings, seed=False)
    try:
        assert await schema.current_revision(runtime.database.engine) == schema.head_revision()
    finally:
        await runtime.close()


@pytest.mark.postgresql
def test_migrate_command_upgrades_the_database_in_database_url(
    blank_postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", blank_postgres_url)

    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0

    printed = capsys.readouterr().out.splitlines()
    assert (
        printed
        == [f"{blank_postgres_url}: schema at revision {schema.head_revision()}, the newest"] * 2
    )


def test_migrate_command_says_why_when_the_server_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 (discard) on the loopback: nothing listens there, the connection is refused.
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:9/none")

    assert main(["migrate"]) == 1

    error = capsys.readouterr().err
    assert "could not migrate postgresql+asyncpg://nobody@127.0.0.1:9/none" in error
    assert "ConnectionRefusedError" in error
