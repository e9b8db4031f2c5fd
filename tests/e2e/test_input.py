"""Hostile arguments typed in Telegram reach the real bot: usage messages, fast, no Gemini call."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import OTHER_ADMIN_ID, TREND_LIMIT_CALLS, Conversation, User

pytestmark = pytest.mark.asyncio(loop_scope="package")

RLO = "\u202e"
OUTCOME = re.compile(r" outcome=(\w+)")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/trend soon", "I did not understand the window “soon”. Try /trend 24h"),
        (f"/trend {RLO}d7 <b>", "I did not understand the window “d7 <b>”."),
        ("/trend <a href='x'>7d</a>", "Please give just one window, for example /trend 7d."),
        ("/trend -7d", "A window must be longer than zero"),
        ("/trend 7d 30d", "Please give just one window, for example /trend 7d."),
        ("/trend " + "9" * 3000, "I did not understand that. Try /help."),
        ("/news *5*", "I did not understand “*5*”. Try /news or /news 10."),
        (f"/news <i>{'x' * 40}</i>", f"I did not understand “<i>{'x' * 29}”."),
    ],
)
async def test_refused_arguments_get_a_usage_message_and_cost_no_gemini_call(
    conversation: Conversation, command: str, expected: str
) -> None:
    user = conversation.user()
    started = time.monotonic()

    reply = await conversation.ask_one(command, user)

    assert time.monotonic() - started < 2.0
    assert reply.parse_mode == "HTML"
    assert reply.plain_text is not None
    assert expected in reply.plain_text
    assert RLO not in reply.plain_text
    assert reply.entities == []
    assert conversation.gemini.requests() == []
    (handled,) = await conversation.handled(user)
    assert " outcome=usage " in handled
    assert "Unhandled error" not in conversation.new_log()


async def test_a_huge_window_is_clamped_and_answered(conversation: Conversation) -> None:
    started = time.monotonic()

    reply = await conversation.ask_one("/trend 99999d", conversation.user())

    assert time.monotonic() - started < 2.0
    assert reply.plain_text is not None
    assert reply.plain_text.startswith(
        "BTC over 10y\n(99999d is outside what I can analyse; I used 10y.)\n"
    )
    assert len(conversation.gemini.requests()) == 1


async def test_the_trend_allowance_stops_a_user_but_not_an_admin(
    conversation: Conversation,
) -> None:
    user = conversation.user()

    answered = [await conversation.ask_one("/trend 24h", user) for _ in range(TREND_LIMIT_CALLS)]
    limited = await conversation.ask_one("/trend 24h", user)
    refused_input = await conversation.ask_one("/trend soon", user)
    admin = [await conversation.ask_one("/trend 24h", User(OTHER_ADMIN_ID)) for _ in range(2)]

    assert all((reply.plain_text or "").startswith("BTC over 24h") for reply in answered)
    assert limited.plain_text == "That is a lot of questions at once! Please wait a minute."
    assert (refused_input.plain_text or "").startswith("I did not understand the window")
    assert all((reply.plain_text or "").startswith("BTC over 24h") for reply in admin)
    user_lines = await conversation.handled(user, TREND_LIMIT_CALLS + 2)
    admin_lines = await conversation.handled(User(OTHER_ADMIN_ID), 2)
    outcomes = [OUTCOME.findall(line)[0] for line in user_lines + admin_lines]
    assert outcomes == ["ok"] * TREND_LIMIT_CALLS + ["limited", "usage", "ok", "ok"]
