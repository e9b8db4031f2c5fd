"""Sending text to Telegram, with one plain-text retry when Telegram refuses our markup.

Every reply path goes through here. A reply is written in Telegram HTML; should Telegram
answer ``Bad Request: can't parse entities`` (our escaping missed something), the same text
is sent once more with no parse mode, so the user still gets the answer, tags showing, rather
than an error. Flood control (429 ``retry_after``) is not handled here: the application's
rate limiter waits it out and sends the message again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import Message
from telegram.error import BadRequest

logger = logging.getLogger(__name__)

ENTITY_PARSE_ERROR = "can't parse entities"

Sent = TypeVar("Sent")


def is_entity_parse_error(error: BadRequest) -> bool:
    """Whether Telegram refused a text because it could not read its markup.

    PTB capitalises Telegram's description, so the words are compared in lower case.
    """
    return ENTITY_PARSE_ERROR in error.message.lower()


async def with_plain_retry(send: Callable[[bool], Awaitable[Sent]], what: str) -> Sent:
    """Call ``send(True)`` (with markup); if Telegram cannot parse it, ``send(False)`` once.

    Args:
        send: Sends the text with its parse mode when given True, with none when False.
        what: What is being sent, for the warning (``reply to /trend``); never the text.

    Raises:
        TelegramError: Any other refusal, or a refusal of the plain-text retry.
    """
    try:
        return await send(True)
    except BadRequest as error:
        if not is_entity_parse_error(error):
            raise
        logger.warning(
            "Telegram could not parse the markup of a %s (%s); sending it once more as plain text",
            what,
            error.message,
        )
    return await send(False)


async def reply_text(message: Message, text: str, *, what: str = "reply") -> Message:
    """Send ``text`` in HTML to the chat of ``message``, plain if Telegram refuses the HTML."""

    async def send(with_markup: bool) -> Message:
        if with_markup:
            return await message.reply_text(text)
        return await message.reply_text(text, parse_mode=None)

    return await with_plain_retry(send, what)
