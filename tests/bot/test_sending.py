"""One wait after flood control, one plain-text retry after refused markup; nothing more."""

from __future__ import annotations

import logging

import pytest
from telegram.error import BadRequest, Forbidden, RetryAfter

from bot.sending import MAX_FLOOD_WAIT_SECONDS, is_entity_parse_error, send_carefully

# PTB's message for the recorded 400 (``Bad Request: `` dropped, then capitalised).
PARSE_ERROR = BadRequest(
    "Can't parse entities: can't find end of the entity starting at byte offset 11"
)


class Sender:
    """Records each attempt and fails the first ones as told."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.attempts: list[bool] = []

    async def __call__(self, with_markup: bool) -> str:
        self.attempts.append(with_markup)
        if self.failures:
            raise self.failures.pop(0)
        return "sent"


async def test_a_parse_error_gives_one_plain_retry_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = Sender(PARSE_ERROR)

    result = await send_carefully(sender, "reply to /news")

    assert result == "sent"
    assert sender.attempts == [True, False]
    (warning,) = [record for record in caplog.records if record.name == "bot.sending"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith(
        "Telegram could not parse the markup of a reply to /news (Can't parse entities"
    )


async def test_the_plain_retry_is_made_only_once() -> None:
    sender = Sender(PARSE_ERROR, PARSE_ERROR)

    with pytest.raises(BadRequest):
        await send_carefully(sender, "reply")

    assert sender.attempts == [True, False]


@pytest.mark.parametrize("error", [BadRequest("Chat not found"), Forbidden("blocked")])
async def test_other_refusals_are_not_retried(error: Exception) -> None:
    sender = Sender(error)

    with pytest.raises(type(error)):
        await send_carefully(sender, "reply")

    assert sender.attempts == [True]


def test_the_parse_error_is_recognised_whatever_the_case() -> None:
    assert is_entity_parse_error(BadRequest("can't parse entities: unsupported start tag"))
    assert is_entity_parse_error(PARSE_ERROR)
    assert not is_entity_parse_error(BadRequest("Message is too long"))


class RecordedSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(autouse=True)
def ptb_timedeltas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build RetryAfter as PTB 23 will (a timedelta), without PTB 22's deprecation warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


async def test_flood_control_is_waited_out_once_with_a_margin() -> None:
    sender, sleep = Sender(RetryAfter(3)), RecordedSleep()

    assert await send_carefully(sender, "reply", sleep=sleep) == "sent"

    assert sleep.waits == [3.5]
    assert sender.attempts == [True, True]


async def test_a_second_flood_refusal_is_raised() -> None:
    sender, sleep = Sender(RetryAfter(1), RetryAfter(1)), RecordedSleep()

    with pytest.raises(RetryAfter):
        await send_carefully(sender, "reply", sleep=sleep)

    assert sleep.waits == [1.5]


async def test_a_flood_wait_too_long_for_a_reply_is_not_waited() -> None:
    sender, sleep = Sender(RetryAfter(int(MAX_FLOOD_WAIT_SECONDS) + 1)), RecordedSleep()

    with pytest.raises(RetryAfter):
        await send_carefully(sender, "reply", sleep=sleep)

    assert sleep.waits == []
    assert sender.attempts == [True]


async def test_flood_control_then_refused_markup_takes_three_attempts_at_most() -> None:
    sender, sleep = Sender(RetryAfter(1), PARSE_ERROR, PARSE_ERROR), RecordedSleep()

    with pytest.raises(BadRequest):
        await send_carefully(sender, "reply", sleep=sleep)

    assert sender.attempts == [True, True, False]
