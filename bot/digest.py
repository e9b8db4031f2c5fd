"""The daily digest over Telegram: paced sends, flood-control waits, and the admins' alert.

What goes in the digest and who gets it is decided in ``core.digest``; this module only
carries it. Each recipient gets the 7-day chart as a photo with a short caption, then the
digest's text as a message (both fit Telegram's limits: 1,024 characters for a caption,
4,096 for a message, cut between lines if ever longer).

Pacing: at most :data:`MESSAGES_PER_SECOND` messages a second overall, spaced evenly, and
:data:`GROUP_MESSAGES_PER_MINUTE` a minute into any one group or channel, as Telegram asks
of bots that broadcast. Sends go one after another, so a flood-control answer (429
``retry_after``) holds the whole broadcast: it is waited out for at least as long as
Telegram said, then that message is sent once more; a second refusal fails that chat for
the day.

How a failure is classed (the claim is marked ``failed`` with the reason either way, and
the chat is not sent the digest again that day):

* 403 (blocked, deactivated, kicked) and 400 ``chat not found``: the chat is gone and its
  subscription is marked inactive.
* A group that became a supergroup (``ChatMigrated``): the subscription moves to the new
  chat, which is sent the digest in the same run.
* A timeout or a network error: the message may have arrived, so it is not sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiolimiter import AsyncLimiter
from telegram import Bot, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.replies import HTML, RenderedDigest, channel_alert, render_digest
from bot.sending import retry_after_seconds
from bot.splitting import split_message
from core.charts import ChartService
from core.digest import ChatId, Delivery, Digest, DigestService, Recipient
from storage.repositories import DigestRun

logger = logging.getLogger(__name__)

# Telegram allows bots about 30 messages a second; staying a little under keeps the
# jitter of timers and connections from crossing it (28 a second measured no 429 against
# an emulator enforcing 30; see docs/benchmarks.md).
MESSAGES_PER_SECOND = 28.0
GROUP_MESSAGES_PER_MINUTE = 20
# Added to Telegram's retry_after, so that the second try lands after the ban, not on it.
RETRY_MARGIN_SECONDS = 0.5

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

Sleep = Callable[[float], Awaitable[None]]


class Pacer:
    """Spaces sends to stay under Telegram's broadcast limits; shared by every sender.

    Args:
        per_second: Messages a second over all chats, spaced evenly (no bursts).
        group_per_minute: Messages a minute into one group or channel.
    """

    def __init__(
        self,
        per_second: float = MESSAGES_PER_SECOND,
        group_per_minute: int = GROUP_MESSAGES_PER_MINUTE,
    ) -> None:
        self._overall = AsyncLimiter(1, 1 / per_second)
        self._group_per_minute = group_per_minute
        self._groups: dict[ChatId, AsyncLimiter] = {}

    async def wait_turn(self, chat_id: ChatId) -> None:
        """Return when a message may go to ``chat_id``."""
        if _is_group(chat_id):
            limiter = self._groups.get(chat_id)
            if limiter is None:
                limiter = self._groups[chat_id] = AsyncLimiter(self._group_per_minute, 60)
            await limiter.acquire()
        await self._overall.acquire()


class TelegramDigestSender:
    """Delivers one run's digests through a PTB bot: its ``deliver`` goes to the core.

    The chart is drawn once per digest and uploaded once; later recipients are sent the
    file id Telegram gave it.
    """

    def __init__(
        self, bot: Bot, charts: ChartService, pacer: Pacer, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._bot = bot
        self._charts = charts
        self._pacer = pacer
        self._sleep = sleep
        self._rendered: dict[tuple[int, bool], RenderedDigest] = {}
        self._photo_ids: dict[int, str] = {}

    async def deliver(self, recipient: Recipient, digest: Digest) -> Delivery:
        """Send one chat its digest: the chart with its caption, then the text."""
        rendered = await self._render(digest, for_subscriber=not recipient.is_channel)
        chat_id = recipient.chat_id
        retried = False
        try:
            if rendered.photo is not None:
                photo: str | bytes = self._photo_ids.get(id(digest), rendered.photo)
                message, again = await self._send(
                    chat_id,
                    lambda: self._bot.send_photo(
                        chat_id, photo=photo, caption=rendered.caption, parse_mode=ParseMode.HTML
                    ),
                )
                retried |= again
                if message.photo:
                    self._photo_ids.setdefault(id(digest), message.photo[-1].file_id)
            for part in split_message(rendered.text):
                _, again = await self._send(chat_id, _text_sender(self._bot, chat_id, part))
                retried |= again
        except RetryAfter:
            return Delivery(ok=False, retried=True, detail="flood control again after the wait")
        except ChatMigrated as error:
            return Delivery(
                ok=False,
                retried=retried,
                detail="group became a supergroup",
                moved_to=error.new_chat_id,
            )
        except Forbidden as error:
            return Delivery(ok=False, retried=retried, detail=_reason(error), chat_gone=True)
        except BadRequest as error:
            gone = "chat not found" in error.message.lower()
            return Delivery(ok=False, retried=retried, detail=_reason(error), chat_gone=gone)
        except NetworkError as error:
            detail = f"may have been delivered: {_reason(error)}"
            return Delivery(ok=False, retried=retried, detail=detail)
        except TelegramError as error:
            return Delivery(ok=False, retried=retried, detail=_reason(error))
        return Delivery(ok=True, retried=retried)

    async def _render(self, digest: Digest, *, for_subscriber: bool) -> RenderedDigest:
        key = (id(digest), for_subscriber)
        if key not in self._rendered:
            self._rendered[key] = await render_digest(
                digest, self._charts, HTML, for_subscriber=for_subscriber
            )
        return self._rendered[key]

    async def _send(
        self, chat_id: ChatId, call: Callable[[], Awaitable[Message]]
    ) -> tuple[Message, bool]:
        """Send once; after a flood-control answer, wait as told and send once more.

        Returns:
            The sent message, and whether it took a second try.

        Raises:
            RetryAfter: Telegram refused the second try too.
            TelegramError: Any other refusal or failure, unchanged.
        """
        try:
            await self._pacer.wait_turn(chat_id)
            return await call(), False
        except RetryAfter as error:
            wait = retry_after_seconds(error) + RETRY_MARGIN_SECONDS
            logger.warning("Telegram flood control: waiting %.1f s, then sending once more", wait)
            await self._sleep(wait)

        await self._pacer.wait_turn(chat_id)
        return await call(), True


def _text_sender(bot: Bot, chat_id: ChatId, part: str) -> Callable[[], Awaitable[Message]]:
    """Send one part of the digest's text: HTML, no link previews (it holds several links)."""
    return lambda: bot.send_message(
        chat_id, part, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
    )


async def run_digest(
    digest: DigestService,
    bot: Bot,
    charts: ChartService,
    pacer: Pacer,
    *,
    admin_ids: frozenset[int],
    admin_language: str,
    sleep: Sleep = asyncio.sleep,
) -> DigestRun | None:
    """Run today's digest over Telegram and tell the admins if the channel failed.

    Returns:
        How the run went, or None when the day's digest time has not come yet.

    Raises:
        NoDataError: Nothing at all could be put in a digest; nothing was claimed.
    """
    sender = TelegramDigestSender(bot, charts, pacer, sleep=sleep)
    run = await digest.run(sender.deliver)
    if run is not None and run.channel_error is not None:
        logger.warning("The digest could not be posted to the channel: %s", run.channel_error)
        await alert_admins(
            bot,
            pacer,
            admin_ids,
            channel_alert(
                run.local_date, str(digest.channel), run.channel_error, admin_language, HTML
            ),
        )
    return run


async def alert_admins(bot: Bot, pacer: Pacer, admin_ids: frozenset[int], message: str) -> int:
    """Send every admin the same message; one who cannot be reached does not stop the rest.

    Returns:
        How many admins were told.
    """
    told = 0
    for admin_id in sorted(admin_ids):
        try:
            await pacer.wait_turn(admin_id)
            await bot.send_message(admin_id, message, parse_mode=ParseMode.HTML)
        except TelegramError as error:
            logger.warning("Could not alert an admin: %s", _reason(error))
            continue
        told += 1
    return told


def _reason(error: TelegramError) -> str:
    """A short reason for the records: the class and Telegram's own words, cut short."""
    name = type(error).__name__
    if error.message.lower().startswith(name.lower()):
        return error.message[:200]
    return f"{name}: {error.message}"[:200]


def _is_group(chat_id: ChatId) -> bool:
    """Groups, supergroups and channels have negative ids, or an @username."""
    return isinstance(chat_id, str) or chat_id < 0
