"""Subscriptions and digest claims on SQLite: one claim per chat and date, whoever races."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from storage.database import Database, open_database
from storage.repositories import (
    DigestClaimRepository,
    DigestRun,
    DigestRunRepository,
    SubscriptionRepository,
)

NOON = datetime(2026, 9, 30, 12, 0, tzinfo=UTC)
DAY = date(2026, 9, 30)


async def test_a_claim_is_won_once(database: Database) -> None:
    claims = DigestClaimRepository(database)

    first = await claims.claim("42", DAY, "process-a", NOON)
    again = await claims.claim("42", DAY, "process-b", NOON)
    next_day = await claims.claim("42", DAY + timedelta(days=1), "process-b", NOON)

    assert (first, again, next_day) == (True, False, True)
    [claim] = await claims.on(DAY)
    assert (claim.chat, claim.state, claim.claimed_by) == ("42", "claimed", "process-a")


async def test_a_finished_claim_keeps_its_outcome(database: Database) -> None:
    claims = DigestClaimRepository(database)
    await claims.claim("-100123", DAY, "a", NOON)

    await claims.finish(
        "-100123", DAY, "failed", NOON, retried=True, detail="BadRequest: Chat not found"
    )

    latest = await claims.latest("-100123")
    assert latest is not None
    assert (latest.state, latest.retried, latest.detail) == (
        "failed",
        True,
        "BadRequest: Chat not found",
    )
    assert latest.finished_at == NOON


async def test_two_engines_on_one_database_racing_for_the_same_claims_win_each_once(
    database: Database,
) -> None:
    other = open_database(database.engine.url.render_as_string(hide_password=False))
    try:
        ours, theirs = DigestClaimRepository(database), DigestClaimRepository(other)
        chats = [str(chat) for chat in range(1, 41)]

        results = await asyncio.gather(
            *(
                repository.claim(chat, DAY, name, NOON)
                for chat in chats
                for repository, name in ((ours, "a"), (theirs, "b"))
            )
        )
    finally:
        await other.close()

    assert sum(results) == len(chats)
    assert sorted(claim.chat for claim in await ours.on(DAY)) == sorted(chats)


async def test_subscribing_twice_keeps_the_first_date_and_updates_the_language(
    database: Database,
) -> None:
    subscriptions = SubscriptionRepository(database)

    first = await subscriptions.subscribe(7, "private", "en", NOON)
    second = await subscriptions.subscribe(7, "private", "fr", NOON + timedelta(hours=1))

    [subscription] = await subscriptions.active()
    assert (first, second) == (True, False)
    assert (subscription.language, subscription.subscribed_at) == ("fr", NOON)


async def test_an_inactive_chat_is_skipped_until_it_subscribes_again(database: Database) -> None:
    subscriptions = SubscriptionRepository(database)
    await subscriptions.subscribe(7, "private", "en", NOON)
    await subscriptions.subscribe(8, "private", "en", NOON)

    await subscriptions.deactivate(7, "Forbidden: bot was blocked by the user", NOON)
    while_blocked = [item.chat_id for item in await subscriptions.active()]
    stored = await subscriptions.get(7)
    renewed = await subscriptions.subscribe(7, "private", "en", NOON + timedelta(days=1))

    assert while_blocked == [8]
    assert (
        stored is not None and stored.inactive_reason == "Forbidden: bot was blocked by the user"
    )
    assert renewed is True
    assert [item.chat_id for item in await subscriptions.active()] == [8, 7]
    assert await subscriptions.count_active() == 2


async def test_only_subscriptions_made_by_a_moment_are_due(database: Database) -> None:
    subscriptions = SubscriptionRepository(database)
    await subscriptions.subscribe(1, "private", "en", NOON - timedelta(hours=5))
    await subscriptions.subscribe(2, "private", "en", NOON + timedelta(minutes=1))

    due = await subscriptions.active(subscribed_by=NOON)

    assert [item.chat_id for item in due] == [1]


async def test_unsubscribing_forgets_the_chat(database: Database) -> None:
    subscriptions = SubscriptionRepository(database)
    await subscriptions.subscribe(-1009, "supergroup", "fr", NOON)

    assert await subscriptions.unsubscribe(-1009) is True
    assert await subscriptions.unsubscribe(-1009) is False
    assert await subscriptions.get(-1009) is None


async def test_a_group_that_became_a_supergroup_keeps_its_subscription(
    database: Database,
) -> None:
    subscriptions = SubscriptionRepository(database)
    await subscriptions.subscribe(-55, "group", "fr", NOON)

    await subscriptions.move(-55, -1005555, NOON + timedelta(hours=1))

    [moved] = await subscriptions.active()
    assert (moved.chat_id, moved.chat_type, moved.language, moved.subscribed_at) == (
        -1005555,
        "supergroup",
        "fr",
        NOON,
    )


async def test_the_latest_run_is_the_last_to_finish(database: Database) -> None:
    runs = DigestRunRepository(database)
    await runs.add(DigestRun(DAY, NOON, NOON + timedelta(seconds=5), "a", 3, 1, 1, 0, "gone"))
    await runs.add(DigestRun(DAY, NOON, NOON + timedelta(seconds=9), "b", 0, 0, 0, 4))

    latest = await runs.latest()

    assert latest == DigestRun(DAY, NOON, NOON + timedelta(seconds=9), "b", 0, 0, 0, 4, None)
