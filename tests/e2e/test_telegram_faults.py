"""The Bot API misbehaves: the bot retries what is worth it, keeps polling, and says why once."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.e2e.conftest import TOKEN, Conversation
from tests.emulators.telegram import Fault

pytestmark = pytest.mark.asyncio(loop_scope="package")

INTERNAL_ERROR = "Sorry, something went wrong"


def chat_calls(conversation: Conversation, method: str, chat_id: int) -> list:
    return [
        call
        for call in conversation.telegram.calls(method)
        if call.params.get("chat_id") == str(chat_id)
    ]


async def test_markup_telegram_cannot_parse_is_sent_once_more_as_plain_text(
    conversation: Conversation,
) -> None:
    user = conversation.user()
    conversation.telegram.fail_next("sendMessage", Fault.CANT_PARSE_ENTITIES, chat_id=user.chat_id)

    reply = await conversation.ask_one("/help", user)

    first, retry = chat_calls(conversation, "sendMessage", user.chat_id)
    assert (first.status, retry.status) == (400, 200)
    assert first.params["parse_mode"] == "HTML"
    assert "parse_mode" not in retry.params
    assert retry.params["text"] == first.params["text"]
    assert reply.text == first.params["text"]
    assert reply.parse_mode is None
    warnings = await conversation.wait_for_log(r"WARNING bot\.sending \[[^]]*\]: (.*)")
    assert len(warnings) == 1
    assert "could not parse the markup of a reply to /help" in warnings[0]
    assert "Unhandled error" not in conversation.new_log()


async def test_flood_control_on_a_reply_is_waited_out_and_the_reply_sent_once(
    conversation: Conversation,
) -> None:
    user = conversation.user()
    conversation.telegram.fail_next(
        "sendMessage", Fault.RETRY_AFTER, chat_id=user.chat_id, retry_after=1
    )

    reply = await conversation.ask_one("/help", user)

    refused, accepted = chat_calls(conversation, "sendMessage", user.chat_id)
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.at - refused.at >= 1.0
    assert reply.plain_text is not None
    assert reply.plain_text.startswith("Bitcoin Analyzer")
    await asyncio.sleep(0.2)
    assert len(conversation.telegram.sent(user.chat_id)) == 1
    warnings = await conversation.wait_for_log(r"WARNING bot\.sending \[[^]]*\]: (.*)")
    assert warnings == [
        "Telegram flood control on a reply to /help: waiting 1.5 s, then sending it once more"
    ]
    assert "Unhandled error" not in conversation.new_log()


@pytest.mark.parametrize("fault", [Fault.BAD_GATEWAY, Fault.DROP])
async def test_a_failed_poll_does_not_stop_the_bot(
    conversation: Conversation, fault: Fault
) -> None:
    user = conversation.user()
    polls_before = len(conversation.telegram.calls("getUpdates"))
    conversation.telegram.fail_next("getUpdates", fault)

    # The poll waiting now ends with this update; the next one meets the fault.
    await conversation.ask_one("/help", user)
    await wait_for_failed_poll(conversation, polls_before)
    after = await conversation.ask_one("/start", user)

    assert after.plain_text is not None
    assert after.plain_text.startswith("Bitcoin Analyzer")
    warnings = await conversation.wait_for_log(r"WARNING bot\.polling \[[^]]*\]: (.*)")
    assert len(warnings) == 1
    assert warnings[0].startswith("Could not reach Telegram to fetch updates (NetworkError")
    await conversation.wait_for_log(r"INFO bot\.polling \[[^]]*\]: Fetching updates works again")
    assert "Traceback" not in conversation.new_log()


async def test_another_instance_polling_gives_one_error_line_that_says_what_to_do(
    conversation: Conversation,
) -> None:
    user = conversation.user()
    failed_before = failed_polls(conversation)

    # Another process polls with the same token: each of its polls ends the bot's waiting
    # poll with 409 Conflict, as Telegram does, for three of the bot's polls in a row.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as other:
        deadline = time.monotonic() + 10
        while failed_polls(conversation) - failed_before < 3:
            assert time.monotonic() < deadline, "the bot did not poll into the conflict"
            url = f"{conversation.telegram.base_url}{TOKEN}/getUpdates"
            async with other.get(url, params={"timeout": "0"}) as answer:
                await answer.read()
            await asyncio.sleep(0.2)
    reply = await conversation.ask_one("/help", user, timeout=15)

    assert reply.plain_text is not None
    assert reply.plain_text.startswith("Bitcoin Analyzer")
    log = conversation.new_log()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert "409 Conflict" in errors[0]
    assert "another process is polling with this bot token" in errors[0]
    assert "Stop the other instance" in errors[0]
    assert "Traceback" not in log
    await conversation.wait_for_log(
        r"Fetching updates works again after \d+ failed polls \(conflict\)"
    )


def failed_polls(conversation: Conversation) -> int:
    return sum(1 for call in conversation.telegram.calls("getUpdates") if call.status == 409)


async def wait_for_failed_poll(conversation: Conversation, polls_before: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        polls = conversation.telegram.calls("getUpdates")[polls_before:]
        if any(call.status not in {None, 200} or call.description for call in polls):
            return
        assert time.monotonic() < deadline, "the bot did not poll into the fault"
        await asyncio.sleep(0.05)
