"""No secret and no message text in the bot's log at DEBUG, tracebacks included."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.bot_process import BotProcess
from tests.e2e.conftest import SECRETS, Conversation, World, analysis_for
from tests.emulators.gemini import Reply
from tests.emulators.telegram import Fault

pytestmark = pytest.mark.asyncio(loop_scope="package")

# Well formed, so the fake Bot API answers 401 for it as Telegram does for a revoked token.
REFUSED_TOKEN = "5566778899:revoked-token-SECRET-after-colon"


async def test_a_whole_session_at_debug_leaves_no_secret_in_the_log(
    conversation: Conversation, world: World
) -> None:
    telegram, gemini = conversation.telegram, conversation.gemini
    user = conversation.user()
    facts = await world.facts("9d")
    gemini.default = Reply.answer(analysis_for(facts, "en"))

    # /trend through Gemini.
    trend = await conversation.ask_one("/trend 9d", user)
    # A dropped connection on getUpdates: the poll waiting now ends with /help, the next fails.
    polls_before = len(telegram.calls("getUpdates"))
    telegram.fail_next("getUpdates", Fault.DROP)
    await conversation.ask_one("/help", user)
    await wait_until(
        lambda: any(call.description for call in telegram.calls("getUpdates")[polls_before:])
    )
    # A 500 from the Bot API on a reply: nothing handles it, so it is logged with a traceback.
    telegram.fail_next("sendMessage", Fault.SERVER_ERROR, chat_id=user.chat_id)
    apology = await conversation.ask_one("/start", user)
    # Words of the user's own, which no log line may repeat.
    await conversation.ask_one("/news ZebraQuokkaWords", user)
    # A 429 from Gemini.
    gemini.default = Reply.rate_limited("1s")
    fallback = await conversation.ask_one("/trend 11d", user)
    await conversation.wait_for_log(rf"command=trend chat={user.chat_id} .*fallback=rate_limited")
    await asyncio.sleep(1.1)  # the rest Gemini was given ends before the next test

    assert analysis_for(facts, "en") in (trend.plain_text or "")
    assert (apology.plain_text or "").startswith("Sorry, something went wrong on my side.")
    assert (fallback.plain_text or "").endswith("the built-in analyst answered.")
    whole_log = world.bot.log()
    session = conversation.new_log()
    assert " DEBUG telegram.ext [-]: Network Retry Loop (Polling Updates)" in session
    assert "ZebraQuokka" not in whole_log
    assert "Bitcoin Analyzer" not in whole_log  # nor the bot's replies
    assert "Traceback (most recent call last)" in session
    assert "telegram.error.NetworkError: Internal Server Error" in session
    assert "Could not reach Telegram to fetch updates" in session
    assert "Gemini rate limit" in session
    assert [secret for secret in SECRETS if secret in whole_log] == []
    assert [request.reply for request in gemini.requests()] == ["answer", "rate_limited"]
    assert {request.api_key for request in gemini.requests()} == {world_key(world)}


async def test_a_token_telegram_refuses_stops_the_bot_with_a_clear_message_and_no_secret(
    world: World, tmp_path
) -> None:
    environment = dict(world.bot.environment)
    environment.update(TELEGRAM_BOT_TOKEN=REFUSED_TOKEN, DATA_DIR=str(tmp_path / "data"))
    refused = BotProcess(
        environment,
        workdir=tmp_path / "cwd",
        log_path=tmp_path / "refused.log",
        guard_record=world.bot.guard_record,
    )
    started = time.monotonic()

    await refused.start()
    returncode = await refused.wait(timeout=30)

    output = refused.log()
    assert returncode == 2, output
    assert time.monotonic() - started < 15
    assert output.strip().endswith(
        "bitcoin-analyzer: Invalid setting TELEGRAM_BOT_TOKEN: Telegram refused the token "
        "(check it with @BotFather)"
    )
    assert REFUSED_TOKEN not in output
    assert REFUSED_TOKEN.split(":", 1)[1] not in output
    assert "Traceback" not in output  # the one-line message says it all
    assert not (tmp_path / "data" / "bitcoin_analyzer.db").exists()


def world_key(world: World) -> str:
    return world.bot.environment["GEMINI_API_KEY"]


async def wait_until(condition, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.05)
