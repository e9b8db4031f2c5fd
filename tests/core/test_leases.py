"""Job leases between replicas sharing one database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from core.leases import JobLeases
from storage.database import Database
from storage.repositories import LeaseRepository
from tests.support.clock import FakeClock

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


async def test_one_replica_takes_the_lease_and_the_other_is_refused(database: Database) -> None:
    leases = LeaseRepository(database)

    first = await leases.try_acquire("ingest-prices", "a", START, START + MINUTE)
    second = await leases.try_acquire("ingest-prices", "b", START, START + MINUTE)
    again = await leases.try_acquire("ingest-prices", "a", START, START + 2 * MINUTE)
    other_job = await leases.try_acquire("ingest-news", "b", START, START + MINUTE)

    assert (first, second, again, other_job) == (True, False, True, True)
    stored = await leases.get("ingest-prices")
    assert stored is not None
    assert (stored.holder, stored.expires_at) == ("a", START + 2 * MINUTE)


async def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_extend_it(
    database: Database,
) -> None:
    leases = LeaseRepository(database)
    await leases.try_acquire("ingest-prices", "a", START, START + MINUTE)

    taken = await leases.try_acquire("ingest-prices", "b", START + MINUTE, START + 2 * MINUTE)
    extended = await leases.extend("ingest-prices", "a", START + 3 * MINUTE)

    assert (taken, extended) == (True, False)
    stored = await leases.get("ingest-prices")
    assert stored is not None
    assert (stored.holder, stored.acquired_at) == ("b", START + MINUTE)


async def test_of_many_replicas_racing_for_a_free_lease_exactly_one_wins(
    database: Database,
) -> None:
    leases = LeaseRepository(database)

    outcomes = await asyncio.gather(
        *(
            leases.try_acquire("ingest-news", f"replica-{number}", START, START + MINUTE)
            for number in range(8)
        )
    )

    assert sorted(outcomes) == [False] * 7 + [True]
    stored = await leases.get("ingest-news")
    assert stored is not None
    assert stored.holder == f"replica-{outcomes.index(True)}"


async def test_hold_runs_the_block_on_one_replica_and_lingers_after_it(database: Database) -> None:
    clock = FakeClock(START)
    first = JobLeases(database, holder="a", clock=clock)
    second = JobLeases(database, holder="b", clock=clock)
    ran: list[str] = []

    async with first.hold("ingest-prices", MINUTE, linger=5 * MINUTE) as held:
        if held:
            ran.append("a")
        async with second.hold("ingest-prices", MINUTE) as other_held:
            if other_held:
                ran.append("b during a's run")
    clock.advance(minutes=4)
    async with second.hold("ingest-prices", MINUTE) as held:
        if held:
            ran.append("b within a's linger")
    clock.advance(minutes=2)
    async with second.hold("ingest-prices", MINUTE) as held:
        if held:
            ran.append("b after a's linger")

    assert ran == ["a", "b after a's linger"]


async def test_the_holder_runs_again_before_its_linger_ends(database: Database) -> None:
    clock = FakeClock(START)
    leases = JobLeases(database, holder="a", clock=clock)
    held_each_time = []

    for _ in range(3):
        async with leases.hold("ingest-news", MINUTE, linger=15 * MINUTE) as held:
            held_each_time.append(held)
        clock.advance(minutes=15)

    assert held_each_time == [True, True, True]


async def test_a_long_run_keeps_its_lease_past_the_lease_time(database: Database) -> None:
    ttl = timedelta(seconds=0.3)
    first = JobLeases(database, holder="a")
    second = JobLeases(database, holder="b")

    async with first.hold("ingest-prices", ttl) as held:
        await asyncio.sleep(0.75)  # two and a half lease times, renewed every 0.1 s
        async with second.hold("ingest-prices", ttl) as other_held:
            pass

    assert (held, other_held) == (True, False)


async def test_a_lease_whose_holder_died_is_taken_over_once_it_expires(
    database: Database,
) -> None:
    clock = FakeClock(START)
    # The dead replica took the lease and then stopped renewing it.
    await LeaseRepository(database).try_acquire("ingest-prices", "dead", START, START + MINUTE)
    survivor = JobLeases(database, holder="survivor", clock=clock)

    async with survivor.hold("ingest-prices", MINUTE) as before_expiry:
        pass
    clock.advance(minutes=1)
    async with survivor.hold("ingest-prices", MINUTE) as after_expiry:
        pass

    assert (before_expiry, after_expiry) == (False, True)


async def test_a_failing_job_still_hands_its_lease_back(database: Database) -> None:
    clock = FakeClock(START)
    first = JobLeases(database, holder="a", clock=clock)
    second = JobLeases(database, holder="b", clock=clock)

    try:
        async with first.hold("ingest-news", MINUTE):
            raise RuntimeError("the job failed")
    except RuntimeError:
        pass
    async with second.hold("ingest-news", MINUTE) as held:
        pass

    assert held is True
