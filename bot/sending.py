"""Sending replies to Telegram: flood control waited out once, refused markup sent plain once.

Every reply path goes through :func:`send_carefully`. Two refusals are worth one more try:

* 429 ``retry_after`` (flood control): the wait Telegram asked for, plus a margin, then the
  same message again, once; a wait longer than :data:`MAX_FLOOD_WAIT_SECONDS` is not worth
  keeping a user waiting for, and the refusal is raised at once.
* 400 ``can't parse entities`` (our escaping missed something): the same text once more
  with no parse mode, so the user still gets the answer, tags showing, rather than an error.

Anything else is raised unchanged, so each caller decides (the error handler tells the user).
The application's rate limiter only paces sends; it never retries, so the digest's own
flood-control policy is not doubled.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from telegram import Message
from telegram.error import BadRequest, RetryAfter
from telegram.warnings import PTBDeprecationWarning

logger = logging.getLogger(__name__)

ENTITY_PARSE_ERROR = "can't parse entities"
# Added to Telegram's retry_after, so that the second try lands after the ban, not on it.
FLOOD_MARGIN_SECONDS = 0.5
MAX_FLOOD_WAIT_SECONDS = 60.0

Sent = TypeVar("Sent")
Sleep = Callable[[float], Awaitable[None]]


def is_entity_parse_error(error: BadRequest) -> bool:
    """Whether Telegram refused a text because it could not read its markup.

    PTB capitalises Telegram's description, so the words are compared in lower case.
    """
    return ENTITY_PARSE_ERROR in error.message.lower()


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds, whatever PTB's time-period setting."""
    with warnings.catch_warnings():
        # PTB 22 warns that the attribute will become a timedelta; both kinds are read here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


async def send_carefully(
    send: Callable[[bool], Awaitable[Sent]], what: str, *, sleep: Sleep = asyncio.sleep
) -> Sent:
    """Call ``send(True)`` (with markup), retrying once after flood control and once plain.

    Args:
        send: Sends the message with its parse mode when given True, with none when False.
        what: What is being sent, for the warnings (``reply to /trend``); never the text.
        sleep: How to wait out flood control (tests record the waits).

    Raises:
        TelegramError: Any other refusal, a second flood-control refusal, a wait longer than
            :data:`MAX_FLOOD_WAIT_SECONDS`, or a refusal of the plain-text retry.
    """
    with_markup = True
    waited = False
    while True:
        try:
            return await send(with_markup)
        except RetryAfter as error:
            wait = retry_after_seconds(error) + FLOOD_MARGIN_SECONDS
            if waited or wait > MAX_FLOOD_WAIT_SECONDS:
                raise
            logger.warning(
                "Telegram flood control on a %s: waiting %.1f s, then sending it once more",
                what,
                wait,
            )
            await sleep(wait)
            waited = True
        except BadRequest as error:
            if not with_markup or not is_entity_parse_error(error):
                raise
            logger.warning(
                "Telegram could not parse the markup of a %s (%s); "
                "sending it once more as plain text",
                what,
                error.message,
            )
            with_markup = False


async def reply_text(message: Message, text: str, *, what: str = "reply") -> Message:
    """Send ``text`` in HTML to the chat of ``message``, as :func:`send_carefully` does."""

    async def send(with_markup: bool) -> Message:
        if with_markup:
            return await message.reply_text(text)
        return await message.reply_text(text, parse_mode=None)

    return await send_carefully(send, what)


async def reply_photo(
    message: Message, photo: bytes | str, caption: str | None, *, what: str = "reply"
) -> Message:
    """Send a picture with an HTML caption to the chat of ``message``, carefully."""

    async def send(with_markup: bool) -> Message:
        if with_markup:
            return await message.reply_photo(photo, caption=caption)
        return await message.reply_photo(photo, caption=caption, parse_mode=None)

    return await send_carefully(send, f"caption of a {what}")
