"""The fake Bot API against the real python-telegram-bot 22 client over loopback."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.emulators.loopback import EmulatorProcess
from tests.emulators.telegram import FakeTelegram, Fault, RemoteTelegram, load_fixture

TOKEN = "1234567890:AAH-emulator_token_for_tests_00000"
USER = 100000001
GROUP = -1001234567890


def png_bytes(width: int = 640, height: int = 480) -> bytes:
    """A plain image made here (derived test data, not a recorded file)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (247, 147, 26)).save(buffer, format="PNG")
    return buffer.getvalue()


async def bad_request(call: Awaitable[Any]) -> str:
    """Await a Bot API call that must fail with BadRequest; return PTB's message.

    PTB drops the ``Bad Request: `` prefix and passes the rest through ``str.capitalize``, so
    Telegram's ``can't parse entities: Unsupported start tag`` reads ``Can't parse entities:
    unsupported start tag``.
    """
    with pytest.raises(BadRequest) as raised:
        await call
    return raised.value.message


def make_bot(url: str, token: str = TOKEN) -> Bot:
    return Bot(
        token,
        base_url=url,
        request=HTTPXRequest(connect_timeout=2.0, read_timeout=3.0, write_timeout=3.0),
        get_updates_request=HTTPXRequest(connect_timeout=2.0, read_timeout=3.0),
    )


@pytest.fixture(autouse=True)
def ptb_timedeltas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read ``RetryAfter.retry_after`` as PTB 23 will: a timedelta (PTB 22 warns otherwise)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(telegram.base_url) as ptb_bot:
        yield ptb_bot


@pytest.fixture
def private_chat(telegram: FakeTelegram) -> int:
    telegram.add_chat(USER)
    return USER


# Identity and tokens --------------------------------------------------------------------------


async def test_get_me_reports_the_bot_of_the_token(telegram: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.username, me.is_bot) == (1234567890, "example_bot", True)
    assert telegram.tokens_seen == [TOKEN]


async def test_a_token_other_than_the_configured_one_is_unauthorized() -> None:
    async with FakeTelegram(token=TOKEN) as telegram:
        other = make_bot(telegram.base_url, token="42:other_token")
        with pytest.raises(InvalidToken, match="rejected by the server"):
            await other.initialize()
        await other.shutdown()

        assert telegram.tokens_seen == ["42:other_token"]


async def test_the_token_never_reaches_the_logs(
    telegram: FakeTelegram, bot: Bot, private_chat: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    await bot.send_message(private_chat, "hello")
    await bot.get_updates(timeout=0)

    emulator_records = [r for r in caplog.records if not r.name.startswith(("httpx", "telegram"))]
    assert TOKEN not in "\n".join(record.getMessage() for record in emulator_records)
    assert [r.name for r in caplog.records if r.name.startswith("aiohttp.access")] == []


async def test_an_unknown_method_answers_not_found(telegram: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("fetchTheMoon")

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{telegram.base_url}{TOKEN}/fetchTheMoon") as response:
            body = await response.json()
    assert (response.status, body) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )


# Request encodings ---------------------------------------------------------------------------


async def test_json_urlencoded_and_query_parameters_are_all_read(
    telegram: FakeTelegram, private_chat: int
) -> None:
    url = f"{telegram.base_url}{TOKEN}/sendMessage"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"chat_id": private_chat, "text": "as json"}) as answer:
            assert answer.status == 200
        async with session.post(url, data={"chat_id": str(private_chat), "text": "as form"}):
            pass
        async with session.get(url, params={"chat_id": str(private_chat), "text": "as query"}):
            pass

    assert [sent.text for sent in telegram.sent(private_chat)] == [
        "as json",
        "as form",
        "as query",
    ]
    assert [call.content_type for call in telegram.calls("sendMessage")] == [
        "application/json",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
    ]


async def test_ptb_sends_urlencoded_forms_with_json_encoded_values(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("1h", callback_data="1h")]])

    await bot.send_message(private_chat, "pick", reply_markup=markup)

    call = telegram.calls("sendMessage")[0]
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.params["chat_id"] == str(private_chat)
    assert telegram.sent()[0].reply_markup == {
        "inline_keyboard": [[{"text": "1h", "callback_data": "1h"}]]
    }


# sendMessage: formatting and limits ---------------------------------------------------------


async def test_valid_html_is_delivered_with_its_entities(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    text = '<b>BTC</b> &lt;up&gt; 2 % &amp; <a href="https://example.org/x">chart</a> 😀 <i>ok</i>'

    message = await bot.send_message(private_chat, text, parse_mode="HTML")

    assert message.text == "BTC <up> 2 % & chart 😀 ok"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bold", 0, 3),
        ("text_link", 15, 5),
        ("italic", 24, 2),
    ]
    sent = telegram.sent(private_chat)[0]
    assert (sent.method, sent.text, sent.parse_mode) == ("sendMessage", text, "HTML")
    assert sent.plain_text == message.text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<b>open", "Can't find end tag corresponding to start tag b"),
        ("<p>para</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("price < 100", 'Unsupported start tag "" at byte offset 6'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("ends with <", "Unclosed start tag at byte offset 10"),
        ("€ <br>", 'Unsupported start tag "br" at byte offset 4'),
    ],
)
async def test_invalid_html_is_refused_like_telegram(
    telegram: FakeTelegram, bot: Bot, private_chat: int, text: str, reason: str
) -> None:
    with pytest.raises(BadRequest) as raised:
        await bot.send_message(private_chat, text, parse_mode="HTML")

    assert "can't parse entities" in raised.value.message.lower()
    assert telegram.calls("sendMessage")[0].description == (
        f"Bad Request: can't parse entities: {reason}"
    )
    assert telegram.sent() == []


async def test_a_bare_ampersand_is_text_like_on_telegram_unless_strict(private_chat: int) -> None:
    async with FakeTelegram() as lenient, FakeTelegram(strict_ampersand=True) as strict:
        for fake in (lenient, strict):
            fake.add_chat(USER)
        async with (
            make_bot(lenient.base_url) as lenient_bot,
            make_bot(strict.base_url) as strict_bot,
        ):
            message = await lenient_bot.send_message(USER, "S&P 500 &nbsp;", parse_mode="HTML")
            refusal = await bad_request(
                strict_bot.send_message(USER, "S&P 500", parse_mode="HTML")
            )

    assert message.text == "S&P 500 &nbsp;"
    assert refusal.startswith('Can\'t parse entities: unescaped "&" at byte offset 1')


async def test_the_length_limit_counts_utf16_units_after_parsing(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    await bot.send_message(private_chat, "a" * 4096)
    await bot.send_message(private_chat, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    await bot.send_message(private_chat, "😀" * 2048)

    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(private_chat, "a" * 4097)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(private_chat, "😀" * 2049)  # 2049 characters, 4098 units

    assert len(telegram.sent()) == 3


async def test_empty_text_is_refused(telegram: FakeTelegram, bot: Bot, private_chat: int) -> None:
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(private_chat, "")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(private_chat, "<b> </b>", parse_mode="HTML")


async def test_markdown_v2_reserved_characters_must_be_escaped(
    bot: Bot, private_chat: int
) -> None:
    message = await bot.send_message(private_chat, r"*BTC* up 2\.5 \%", parse_mode="MarkdownV2")

    assert message.text == "BTC up 2.5 %"
    unescaped = await bad_request(
        bot.send_message(private_chat, "up 2.5", parse_mode="MarkdownV2")
    )
    unclosed = await bad_request(
        bot.send_message(private_chat, "text__never closed", parse_mode="MarkdownV2")
    )

    assert unescaped == (
        "Can't parse entities: character '.' is reserved and must be escaped with the "
        "preceding '\\'"
    )
    assert unclosed == "Can't parse entities: can't find end of underline entity at byte offset 4"


async def test_a_message_to_an_unknown_chat_is_chat_not_found(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(555, "hello")


# Updates and long polling ---------------------------------------------------------------------


async def test_an_injected_command_arrives_during_a_long_poll(
    telegram: FakeTelegram, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    started = time.monotonic()

    telegram.inject_command(
        "/start@example_bot PingGroup",
        chat_id=GROUP,
        user_id=100000002,
        chat_type="supergroup",
        language_code="uk",
    )
    updates = await poll

    assert time.monotonic() - started < 1.0
    message = updates[0].message
    assert (message.chat.id, message.chat.type, message.from_user.language_code) == (
        GROUP,
        "supergroup",
        "uk",
    )
    assert message.text == "/start@example_bot PingGroup"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bot_command", 0, 18)]


async def test_an_empty_long_poll_lasts_its_timeout(telegram: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()

    updates = await bot.get_updates(timeout=1)

    elapsed = time.monotonic() - started
    assert updates == ()
    assert 0.9 <= elapsed < 1.6


async def test_the_injected_update_has_the_recorded_shape(
    telegram: FakeTelegram, bot: Bot
) -> None:
    recorded = load_fixture("getUpdates_command_private.json")["result"][0]["message"]

    update = telegram.inject_command("/command1", chat_id=USER, user_id=USER, language_code="ru")

    message = update["message"]
    assert set(message) == set(recorded)
    assert set(message["from"]) == set(recorded["from"])
    assert message["chat"] == recorded["chat"]
    assert message["entities"] == recorded["entities"]


async def test_an_offset_confirms_the_updates_below_it(telegram: FakeTelegram, bot: Bot) -> None:
    for text in ("/start", "/price", "/help"):
        telegram.inject_command(text, chat_id=USER, user_id=USER)

    first = await bot.get_updates(limit=2)
    again = await bot.get_updates(limit=2)
    rest = await bot.get_updates(offset=first[-1].update_id + 1)

    assert [u.message.text for u in first] == ["/start", "/price"]
    assert [u.update_id for u in again] == [u.update_id for u in first]
    assert [u.message.text for u in rest] == ["/help"]
    assert [u["message"]["text"] for u in telegram.pending_updates] == ["/help"]


async def test_edited_messages_and_button_presses_arrive_as_updates(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("7d", callback_data="range:7d")]])
    sent = await bot.send_message(private_chat, "pick a range", reply_markup=markup)

    telegram.inject_edited_message("/price 2", chat_id=USER, user_id=USER, message_id=3)
    telegram.inject_callback_query("range:7d", chat_id=USER, user_id=USER)
    edited, pressed = await bot.get_updates()

    assert (edited.edited_message.text, edited.edited_message.message_id) == ("/price 2", 3)
    assert pressed.callback_query.data == "range:7d"
    assert pressed.callback_query.message.message_id == sent.message_id
    assert await pressed.callback_query.answer("ok") is True
    stale = await bad_request(bot.answer_callback_query(pressed.callback_query.id))
    assert stale == "Query is too old and response timeout expired or query id is invalid"
    assert telegram.callback_answers[0]["text"] == "ok"


async def test_a_newer_poll_ends_an_older_one_with_conflict(telegram: FakeTelegram) -> None:
    async with make_bot(telegram.base_url) as first, make_bot(telegram.base_url) as second:
        older = asyncio.create_task(first.get_updates(timeout=3))
        await asyncio.sleep(0.2)
        newer = asyncio.create_task(second.get_updates(timeout=1))

        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await older
        assert await newer == ()


async def test_polling_under_a_webhook_is_a_conflict(telegram: FakeTelegram, bot: Bot) -> None:
    await bot.set_webhook("https://example.org/hook")

    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == ()


# Faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "words"),
    [
        (Fault.BLOCKED, Forbidden, "bot was blocked by the user"),
        (Fault.DEACTIVATED, Forbidden, "user is deactivated"),
        (Fault.CHAT_NOT_FOUND, BadRequest, "Chat not found"),
        (Fault.CANT_PARSE_ENTITIES, BadRequest, "find end of the entity starting at byte"),
        (Fault.CONFLICT, Conflict, "terminated by other getUpdates request"),
        (Fault.BAD_GATEWAY, NetworkError, "Bad Gateway"),
        (Fault.SERVER_ERROR, NetworkError, "Internal Server Error"),
        (Fault.DROP, NetworkError, "Server disconnected without sending a response"),
    ],
)
async def test_each_fault_becomes_the_matching_ptb_error(
    telegram: FakeTelegram,
    bot: Bot,
    private_chat: int,
    kind: Fault,
    error: type[Exception],
    words: str,
) -> None:
    telegram.fail_next("sendMessage", kind)

    with pytest.raises(error, match=words) as raised:
        await bot.send_message(private_chat, "hello")

    assert not isinstance(raised.value, TimedOut)
    assert await bot.send_message(private_chat, "again")
    assert [sent.text for sent in telegram.sent()] == ["again"]


async def test_retry_after_carries_the_seconds(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    telegram.fail_next("sendMessage", Fault.RETRY_AFTER)
    telegram.fail_next("sendMessage", Fault.RETRY_AFTER, retry_after=17)

    with pytest.raises(RetryAfter) as recorded:
        await bot.send_message(private_chat, "hello")
    with pytest.raises(RetryAfter) as derived:
        await bot.send_message(private_chat, "hello")

    assert (recorded.value.retry_after, derived.value.retry_after) == (
        dtm.timedelta(seconds=5),
        dtm.timedelta(seconds=17),
    )
    assert telegram.calls("sendMessage")[1].description == "Too Many Requests: retry after 17"


async def test_a_delay_shorter_than_the_timeout_only_slows_the_answer(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    telegram.fail_next("sendMessage", Fault.DELAY, delay=0.5)
    started = time.monotonic()

    await bot.send_message(private_chat, "slow")

    assert time.monotonic() - started >= 0.5
    assert len(telegram.sent()) == 1


async def test_a_delay_longer_than_the_read_timeout_is_timed_out(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    telegram.fail_next("sendMessage", Fault.DELAY, delay=2.0)

    with pytest.raises(TimedOut):
        await bot.send_message(private_chat, "slow", read_timeout=0.3)


async def test_faults_can_target_one_chat_and_repeat(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    other = telegram.add_chat(200000002)["id"]
    telegram.fail_next("sendMessage", Fault.BLOCKED, chat_id=other, times=2)

    await bot.send_message(private_chat, "fine")
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(other, "blocked")
    await bot.send_message(other, "unblocked")

    assert [(sent.chat_id, sent.text) for sent in telegram.sent()] == [
        (private_chat, "fine"),
        (other, "unblocked"),
    ]


async def test_get_updates_can_fail_too(telegram: FakeTelegram, bot: Bot) -> None:
    telegram.fail_next("getUpdates", Fault.BAD_GATEWAY)

    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_updates()


# Rate limits ------------------------------------------------------------------------------


async def test_the_rate_limit_answers_429_per_group_per_minute(
    telegram: FakeTelegram, bot: Bot
) -> None:
    telegram.add_chat(GROUP, chat_type="supergroup")
    telegram.set_rate_limit(per_second=None, per_minute_per_group=3)

    for number in range(3):
        await bot.send_message(GROUP, f"update {number}")
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(GROUP, "one too many")

    assert dtm.timedelta(seconds=55) <= raised.value.retry_after <= dtm.timedelta(seconds=60)
    assert telegram.rate_limited_count == 1
    assert len(telegram.sent(GROUP)) == 3


async def test_the_rate_limit_answers_429_over_n_a_second_overall(
    telegram: FakeTelegram, bot: Bot
) -> None:
    chats = [telegram.add_chat(300000000 + number)["id"] for number in range(6)]
    telegram.set_rate_limit(per_second=5, per_minute_per_group=None)

    results = await asyncio.gather(
        *(bot.send_message(chat, "broadcast") for chat in chats), return_exceptions=True
    )

    throttled = [result for result in results if isinstance(result, RetryAfter)]
    assert [error.retry_after for error in throttled] == [dtm.timedelta(seconds=1)]
    assert telegram.rate_limited_count == 1
    await asyncio.sleep(1.05)
    telegram.clear_rate_limit()
    assert await bot.send_message(chats[0], "after the pause")


# Photos ---------------------------------------------------------------------------------------


async def test_send_photo_uploads_the_bytes_as_multipart(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    image = png_bytes()

    message = await bot.send_photo(private_chat, image, caption="<b>7 days</b>", parse_mode="HTML")

    assert telegram.calls("sendPhoto")[0].content_type == "multipart/form-data"
    sent = telegram.sent(private_chat)[0]
    assert (sent.method, sent.photo, sent.plain_text) == ("sendPhoto", image, "7 days")
    assert (message.photo[-1].width, message.photo[-1].height) == (640, 480)
    assert message.caption == "7 days"
    again = await bot.send_photo(private_chat, message.photo[-1].file_id)
    assert telegram.sent(private_chat)[1].photo == image
    assert again.photo[-1].width == 640


async def test_send_photo_refuses_long_captions_and_non_images(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    await bot.send_photo(private_chat, png_bytes(), caption="😀" * 512)

    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(private_chat, png_bytes(), caption="😀" * 513)
    assert await bad_request(bot.send_photo(private_chat, b"no image")) == "Image_process_failed"
    assert len(telegram.sent()) == 1


# Edits, actions, commands -------------------------------------------------------------------


async def test_edit_message_text_changes_the_message_once(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    first = await bot.send_message(private_chat, "Loading…")

    edited = await bot.edit_message_text(
        "<b>Done</b>", private_chat, first.message_id, parse_mode="HTML"
    )

    assert (edited.text, edited.message_id) == ("Done", first.message_id)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "<b>Done</b>", private_chat, first.message_id, parse_mode="HTML"
        )
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", private_chat, 999)
    assert [sent.method for sent in telegram.sent()] == ["sendMessage", "editMessageText"]


async def test_chat_actions_and_commands(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    assert await bot.send_chat_action(private_chat, "typing") is True
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot.send_chat_action(private_chat, "dancing")

    await bot.set_my_commands([("price", "Current price"), ("trend", "Trend analysis")])
    commands = await bot.get_my_commands()

    assert [(c.command, c.description) for c in commands] == [
        ("price", "Current price"),
        ("trend", "Trend analysis"),
    ]
    assert telegram.commands()[0]["command"] == "price"
    invalid = await bad_request(bot.set_my_commands([("Not Valid!", "no spaces or capitals")]))
    assert invalid == "Bot_command_invalid"


# Groups and administrators -----------------------------------------------------------------


async def test_group_administrators_can_be_told_from_members(
    telegram: FakeTelegram, bot: Bot
) -> None:
    telegram.inject_command("/alerts on", chat_id=GROUP, user_id=5, chat_type="supergroup")
    telegram.set_administrators(GROUP, [7], owner_id=6)

    admins = await bot.get_chat_administrators(GROUP)
    statuses = {
        user_id: (await bot.get_chat_member(GROUP, user_id)).status for user_id in (5, 6, 7)
    }
    chat = await bot.get_chat(GROUP)

    assert [(admin.user.id, admin.status) for admin in admins] == [
        (6, "creator"),
        (7, "administrator"),
    ]
    assert statuses == {5: "member", 6: "creator", 7: "administrator"}
    assert (chat.id, chat.type, chat.title) == (GROUP, "supergroup", "Test Group")
    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(GROUP, 424242)


async def test_a_private_chat_has_no_administrators(bot: Bot, private_chat: int) -> None:
    with pytest.raises(BadRequest, match="There are no administrators in the private chat"):
        await bot.get_chat_administrators(private_chat)


# Waiting and remote control ----------------------------------------------------------------


async def test_wait_for_sent_waits_for_a_count_or_a_predicate(
    telegram: FakeTelegram, bot: Bot, private_chat: int
) -> None:
    async def send_later() -> None:
        await asyncio.sleep(0.2)
        await bot.send_message(private_chat, "first")
        await bot.send_message(private_chat, "BTC is up")

    sender = asyncio.create_task(send_later())
    two = await telegram.wait_for_sent(2, timeout=3, chat_id=private_chat)
    matching = await telegram.wait_for_sent(lambda sent: "BTC" in (sent.text or ""), timeout=1)
    await sender

    assert [sent.text for sent in two] == ["first", "BTC is up"]
    assert [sent.text for sent in matching] == ["BTC is up"]
    with pytest.raises(TimeoutError, match="had sent"):
        await telegram.wait_for_sent(3, timeout=0.2)


async def test_the_emulator_runs_as_a_process_driven_over_http() -> None:
    async with EmulatorProcess("tests.emulators.telegram") as process:
        async with RemoteTelegram(process.url) as remote, make_bot(remote.base_url) as bot:
            await remote.inject_command("/start", chat_id=USER, user_id=USER)
            updates = await bot.get_updates(timeout=2)
            await remote.fail_next("sendMessage", "retry_after", retry_after=3)
            with pytest.raises(RetryAfter):
                await bot.send_message(USER, "too soon")
            await bot.send_message(USER, "<b>hello</b>", parse_mode="HTML")

            sent = await remote.wait_for_sent(1, timeout=3, chat_id=USER)
            calls = await remote.calls("sendMessage")
            state = await remote.state()

    assert updates[0].message.text == "/start"
    assert [(s.text, s.plain_text) for s in sent] == [("<b>hello</b>", "hello")]
    assert [call["status"] for call in calls] == [429, 200]
    assert state["tokens_seen"] == [TOKEN]


async def test_a_ptb_application_polls_and_answers_through_the_emulator(
    telegram: FakeTelegram,
) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_html(f"<b>Hello</b>, {update.effective_user.id}")

    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(telegram.base_url)
        .get_updates_read_timeout(3.0)
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    telegram.inject_command("/start", chat_id=USER, user_id=USER)

    async with application:
        await application.start()
        await application.updater.start_polling(timeout=1, poll_interval=0)
        [answer] = await telegram.wait_for_sent(1, timeout=5, chat_id=USER)
        await application.updater.stop()
        await application.stop()

    assert (answer.plain_text, answer.parse_mode) == (f"Hello, {USER}", "HTML")
    assert [call.method for call in telegram.calls()][:3] == [
        "getMe",
        "deleteWebhook",
        "getUpdates",
    ]
    assert telegram.pending_updates == []
