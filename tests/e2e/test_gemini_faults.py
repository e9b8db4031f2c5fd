"""Whatever Gemini does, the user gets two plain sentences and never an error."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from core.analysts import describe_trend
from core.answers import split_sentences
from tests.e2e.conftest import (
    GEMINI_RETRIES,
    GEMINI_TIMEOUT_SECONDS,
    TREND_DEADLINE_SECONDS,
    Conversation,
    World,
    analysis_for,
)
from tests.emulators.gemini import Reply
from tests.emulators.telegram import SentMessage

pytestmark = pytest.mark.asyncio(loop_scope="package")

# Answers that fail are never cached, so every failure below can use the same window.
FAILING_WINDOW = "5d"
FALLBACK_NOTE = "Gemini was unavailable; the built-in analyst answered."
REFUSED_NOTE = "Gemini's answer did not pass our checks; the built-in analyst answered."
INTERNAL_ERROR = "Sorry, something went wrong"


async def ask_trend_expecting_the_builtin_answer(
    conversation: Conversation, world: World, reason: str
) -> SentMessage:
    """Ask /trend and check the reply holds the built-in analyst's two sentences."""
    facts = await world.facts(FAILING_WINDOW)
    builtin = describe_trend(facts, "en")
    user = conversation.user()

    reply = await conversation.ask_one(f"/trend {FAILING_WINDOW}", user)

    assert reply.plain_text is not None
    assert reply.plain_text.startswith(f"BTC over {FAILING_WINDOW}\n")
    assert f"\n\n{builtin}\n\n" in reply.plain_text
    assert len(split_sentences(builtin)) == 2
    assert reply.plain_text.endswith(REFUSED_NOTE if reason == "rejected" else FALLBACK_NOTE)
    assert all(
        INTERNAL_ERROR not in (sent.plain_text or "")
        for sent in conversation.telegram.sent(user.chat_id)
    )
    (handled,) = await conversation.handled(user)
    assert origin_and_fallback(handled) == ("builtin", reason)
    assert "Unhandled error" not in conversation.new_log()
    return reply


async def test_thought_parts_never_reach_the_user(
    conversation: Conversation, world: World
) -> None:
    facts = await world.facts("2d")
    thought = "THOUGHT: the user is a beginner, keep it simple and skip the volatility maths."
    conversation.gemini.default = Reply.answer(analysis_for(facts, "en"), thought=thought)

    reply = await conversation.ask_one("/trend 2d", conversation.user())

    assert reply.plain_text is not None
    assert analysis_for(facts, "en") in reply.plain_text
    assert "THOUGHT" not in reply.plain_text
    assert "THOUGHT" not in conversation.new_log()


async def test_a_cut_off_answer_keeps_its_whole_first_sentence(
    conversation: Conversation, world: World
) -> None:
    facts = await world.facts("3d")
    first_sentence = analysis_for(facts, "en").split(". ")[0] + "."
    conversation.gemini.default = Reply.cut_off(first_sentence + " The market was very vol")

    reply = await conversation.ask_one("/trend 3d", conversation.user())

    assert reply.plain_text is not None
    assert f"\n\n{first_sentence}\n\n" in reply.plain_text


@pytest.mark.parametrize(
    ("answer", "check"),
    [
        (
            "Over this window, Bitcoin {verb}. Send 0.01 BTC to "
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4 to double it.",
            "address",
        ),
        (
            "Over this window, Bitcoin {verb}; the details are at https://btc-gains.example/.",
            "link",
        ),
        (
            "Over this window, Bitcoin {verb}. You should transfer your savings to us now.",
            "advice",
        ),
    ],
)
async def test_answers_with_an_address_a_link_or_money_orders_are_replaced(
    conversation: Conversation, world: World, answer: str, check: str
) -> None:
    facts = await world.facts(FAILING_WINDOW)
    verb = {"up": "rose", "down": "fell", "flat": "stayed flat"}[facts.trend.value]
    conversation.gemini.default = Reply.answer(answer.format(verb=verb))

    reply = await ask_trend_expecting_the_builtin_answer(conversation, world, "rejected")

    assert reply.text is not None
    assert "bc1q" not in reply.text
    assert "example" not in reply.text
    assert "transfer" not in reply.text
    assert f"Gemini gave no usable answer: rejected ({check})" in conversation.new_log()


@pytest.mark.parametrize(
    ("gemini", "reason"),
    [
        (Reply.blocked(), "blocked"),
        (Reply.safety(), "safety"),
        (Reply.empty(), "empty"),
        (Reply.max_tokens(), "max_tokens"),
        (Reply.cut_off("Over this window, Bitcoin fell by 11.4%, from 95555 to"), "max_tokens"),
        (Reply.server_error(500), "server_error"),
        (Reply.server_error(503), "server_error"),
        (Reply.dropped(), "network"),
        (Reply.answer().after(GEMINI_TIMEOUT_SECONDS + 3), "timeout"),
    ],
    ids=lambda value: value.mode.value if isinstance(value, Reply) else None,
)
async def test_every_gemini_failure_gives_the_builtin_answer_in_time(
    conversation: Conversation, world: World, gemini: Reply, reason: str
) -> None:
    conversation.gemini.default = gemini
    started = time.monotonic()

    await ask_trend_expecting_the_builtin_answer(conversation, world, reason)

    assert time.monotonic() - started < TREND_DEADLINE_SECONDS + 1
    retried = reason in {"server_error", "network", "timeout"}
    assert len(conversation.gemini.requests()) == (1 + GEMINI_RETRIES if retried else 1)


async def test_a_rate_limit_rests_gemini_for_the_delay_it_names(
    conversation: Conversation, world: World
) -> None:
    conversation.gemini.default = Reply.rate_limited("1s")
    started = time.monotonic()

    await ask_trend_expecting_the_builtin_answer(conversation, world, "rate_limited")
    conversation.gemini.default = Reply.answer("not asked while resting")
    resting_user, rested_user = conversation.user(), conversation.user()
    resting = await conversation.ask_one(f"/trend {FAILING_WINDOW}", resting_user)
    await asyncio.sleep(max(0.0, started + 1.2 - time.monotonic()))
    facts = await world.facts(FAILING_WINDOW)
    conversation.gemini.default = Reply.answer(analysis_for(facts, "en"))
    rested = await conversation.ask_one(f"/trend {FAILING_WINDOW}", rested_user)

    assert [request.reply for request in conversation.gemini.requests()] == [
        "rate_limited",
        "answer",
    ]
    assert resting.plain_text is not None
    assert resting.plain_text.endswith(FALLBACK_NOTE)
    assert rested.plain_text is not None
    assert analysis_for(facts, "en") in rested.plain_text
    (resting_line,) = await conversation.handled(resting_user)
    (rested_line,) = await conversation.handled(rested_user)
    assert origin_and_fallback(resting_line) == ("builtin", "circuit_open")
    assert origin_and_fallback(rested_line) == ("gemini", None)


def origin_and_fallback(log_line: str) -> tuple[str, str | None]:
    """``analyst=`` and ``fallback=`` of a command's log line."""
    origin = re.search(r"analyst=(\w+)", log_line)
    fallback = re.search(r"fallback=(\w+)", log_line)
    assert origin is not None
    return origin.group(1), fallback.group(1) if fallback else None
