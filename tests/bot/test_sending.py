"""Markup Telegram cannot parse is sent once more as plain text; other refusals are not."""

from __future__ import annotations

import logging

import pytest
from telegram.error import BadRequest, Forbidden

from bot.sending import is_entity_parse_error, with_plain_retry

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

    result = await with_plain_retry(sender, "reply to /news")

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
        await with_plain_retry(sender, "reply")

    assert sender.attempts == [True, False]


@pytest.mark.parametrize("error", [BadRequest("Chat not found"), Forbidden("blocked")])
async def test_other_refusals_are_not_retried(error: Exception) -> None:
    sender = Sender(error)

    with pytest.raises(type(error)):
        await with_plain_retry(sender, "reply")

    assert sender.attempts == [True]


def test_the_parse_error_is_recognised_whatever_the_case() -> None:
    assert is_entity_parse_error(BadRequest("can't parse entities: unsupported start tag"))
    assert is_entity_parse_error(PARSE_ERROR)
    assert not is_entity_parse_error(BadRequest("Message is too long"))
