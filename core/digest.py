"""The daily digest: its contents, its recipients, and the claims that send it once a day.

The adapter that sends (Telegram in ``bot/``) hands :meth:`DigestService.run` a ``deliver``
coroutine; everything else (who is due, the claims, the bookkeeping) happens here.

How a digest is kept to once per chat and local date:

* Before anything is sent to a chat, a claim row keyed by (chat, local date) is inserted.
  Whoever inserts it sends; a caller whose insert conflicts (another process, an earlier
  run, the second firing on the night the clocks go back) skips the chat.
* A run does nothing before the day's digest time, and sends to every recipient not yet
  claimed once it has passed, so a digest missed while the bot was down goes out when it
  comes back on the same local day (at start-up, and at each run).
* A claim whose send failed is marked ``failed`` with the reason and is never sent again on
  another run: after a timeout or a dropped connection the message may have arrived. Within
  the run, the sender waits out a flood-control answer (which says the message was not
  taken) and tries once more. A claim left ``claimed`` by a process that died while sending
  is likewise never re-sent.
* Subscribers are due on a date only if they subscribed before that date's digest time;
  whoever subscribes later gets the next day's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.candles import SYMBOL, Interval
from core.charts import DEFAULT_CHART_WINDOW, ChartService, PriceSeries
from core.errors import BitcoinAnalyzerError, NoDataError
from core.metrics import RuntimeStats
from core.schedules import DailySchedule
from core.services import NEWS_MAX_COUNT, NewsService, TrendReport, TrendService
from storage.database import Database
from storage.repositories import (
    DigestClaim,
    DigestClaimRepository,
    DigestRun,
    DigestRunRepository,
    PriceRepository,
    StoredHeadline,
    SubscriptionRepository,
)

logger = logging.getLogger(__name__)

DIGEST_WINDOWS = ("24h", "7d")
HEADLINES_SHOWN = 5
HEADLINES_SINCE = timedelta(hours=24)
PRICE_CHANGE_SPAN = timedelta(hours=24)

ChatId = int | str


@dataclass(frozen=True, slots=True)
class PriceSummary:
    """The latest price and how it moved over 24 hours.

    Attributes:
        price: The newest hourly close, in US dollars.
        change_pct: The change against the close 24 hours earlier, when one is stored.
        as_of: When the newest hourly candle closed.
        data_age: How long before the digest was made that was.
    """

    price: float
    change_pct: float | None
    as_of: datetime
    data_age: timedelta


@dataclass(frozen=True, slots=True)
class Digest:
    """One day's digest in one language, with whatever parts were available.

    Attributes:
        local_date: The date it is for, on the digest's time zone's calendar.
        made_at: When it was put together.
        language: The language of the analyses.
        price: The price summary, or None when no price is stored.
        trends: The analyses of :data:`DIGEST_WINDOWS` that could be made, in that order.
        headlines: The day's newest headlines, each story once, newest first.
        chart: The candles of the last seven days, or None when too few are stored.
        missing: The parts left out (``price``, ``trend_24h``, ``trend_7d``, ``news``,
            ``chart``), for the log line.
    """

    local_date: date
    made_at: datetime
    language: str
    price: PriceSummary | None
    trends: tuple[TrendReport, ...]
    headlines: tuple[StoredHeadline, ...]
    chart: PriceSeries | None
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Recipient:
    """A chat that gets the digest: the configured channel or a subscriber."""

    chat_id: ChatId
    language: str
    is_channel: bool = False

    @property
    def key(self) -> str:
        """The chat as the claims table stores it."""
        return str(self.chat_id)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How sending one chat its digest went, as the adapter saw it.

    Attributes:
        ok: The whole digest was accepted.
        retried: A part had to be sent a second time (after a flood-control wait).
        detail: Why it failed, short and free of message text.
        chat_gone: The chat blocked the bot, was deactivated or cannot be found: skip it
            from now on.
        moved_to: The supergroup a group became; the subscription follows it.
    """

    ok: bool
    retried: bool = False
    detail: str | None = None
    chat_gone: bool = False
    moved_to: int | None = None


Deliver = Callable[[Recipient, Digest], Awaitable[Delivery]]


@dataclass(frozen=True, slots=True)
class DigestStatus:
    """What /status says about the digest.

    Attributes:
        next_at: When the next digest is due, in UTC.
        zone: The digest's IANA zone.
        subscribers: Active subscriptions.
        inactive_subscribers: Subscriptions retired because the chat was gone.
        channel: The configured channel, if any.
        last_run: The run that finished last, in any process.
        day_counts: The claims of the last run's local date by state, over every run and
            process that day (``sent``, ``failed``, ``claimed`` while still sending).
        channel_claim: The channel's newest claim, with its failure if it failed.
    """

    next_at: datetime
    zone: str
    subscribers: int
    inactive_subscribers: int
    channel: str | None
    last_run: DigestRun | None
    day_counts: dict[str, int]
    channel_claim: DigestClaim | None


def process_name() -> str:
    """A name for this process in the claims: host, process id and a random tag."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DigestService:
    """Composes digests and runs the daily sending over a ``deliver`` coroutine."""

    def __init__(
        self,
        database: Database,
        trends: TrendService,
        news: NewsService,
        charts: ChartService,
        schedule: DailySchedule,
        clock: Callable[[], datetime],
        *,
        channel: ChatId | None = None,
        channel_language: str = "en",
        stats: RuntimeStats | None = None,
    ) -> None:
        self._prices = PriceRepository(database)
        self._trends = trends
        self._news = news
        self._charts = charts
        self.schedule = schedule
        self._clock = clock
        self.channel = channel
        self._channel_language = channel_language
        self.subscriptions = SubscriptionRepository(database)
        self.claims = DigestClaimRepository(database)
        self.runs = DigestRunRepository(database)
        self.owner = process_name()
        self._stats = stats
        self._running = asyncio.Lock()

    def now(self) -> datetime:
        """The present time on the service's clock."""
        return self._clock()

    async def compose(self, language: str) -> Digest:
        """Put today's digest together from what is available; never fails for a part.

        A part that cannot be had (no analysis, no news, no chart) is left out and named in
        ``missing``; the analyst falling back to the built-in one is not a missing part.

        Raises:
            NoDataError: Nothing at all is available (no price, no analysis, no headline).
        """
        now = self._clock()
        price, trends, headlines, chart = await asyncio.gather(
            self._price_summary(now),
            asyncio.gather(*(self._trend(window, language) for window in DIGEST_WINDOWS)),
            self._headlines(now),
            self._chart(),
        )

        missing = [] if price is not None else ["price"]
        missing += [
            f"trend_{window}"
            for window, report in zip(DIGEST_WINDOWS, trends, strict=True)
            if report is None
        ]
        missing += [] if headlines is not None else ["news"]
        missing += [] if chart is not None else ["chart"]
        available = [report for report in trends if report is not None]
        if price is None and not available and not headlines:
            raise NoDataError("no price, analysis or headline is available for the digest")

        return Digest(
            local_date=self.schedule.local_date(now),
            made_at=now,
            language=language,
            price=price,
            trends=tuple(available),
            headlines=tuple(headlines or ()),
            chart=chart,
            missing=tuple(missing),
        )

    async def subscribe(
        self, chat_id: int, chat_type: str, language: str
    ) -> tuple[bool, datetime]:
        """Subscribe a chat in ``language`` (or renew it).

        Returns:
            Whether it was not subscribed before, and when its first digest is due.
        """
        now = self._clock()
        new = await self.subscriptions.subscribe(chat_id, chat_type, language, now)
        return new, self.schedule.next_after(now)

    async def unsubscribe(self, chat_id: int) -> bool:
        """Stop a chat's digest; returns whether it was subscribed."""
        return await self.subscriptions.unsubscribe(chat_id)

    async def recipients(self, moment: datetime) -> list[Recipient]:
        """Who gets the digest of ``moment``'s local date: the channel, then the subscribers.

        Subscribers count only if they subscribed by that date's digest time.
        """
        due_at = self.schedule.instant_on(self.schedule.local_date(moment))
        recipients: list[Recipient] = []
        if self.channel is not None:
            recipients.append(Recipient(self.channel, self._channel_language, is_channel=True))
        for subscription in await self.subscriptions.active(subscribed_by=due_at):
            if subscription.chat_id == self.channel:
                continue
            recipients.append(Recipient(subscription.chat_id, subscription.language))
        return recipients

    async def run(self, deliver: Deliver) -> DigestRun | None:
        """Send today's digest to every recipient not yet claimed, if its time has come.

        Runs in one process never overlap; runs in several processes share the claims.
        One chat's failure never stops the others.

        Returns:
            How the run went, or None when the day's digest time has not come yet.

        Raises:
            NoDataError: Nothing at all could be put in a digest; nothing was claimed.
        """
        async with self._running:
            started = self._clock()
            if not self.schedule.is_due(started):
                logger.debug("Digest not due before %s", self.schedule.next_after(started))
                return None
            return await self._run(deliver, started)

    async def status(self) -> DigestStatus:
        """The next digest time, the subscribers, the last run and the channel's last claim."""
        now = self._clock()
        last_run = await self.runs.latest()
        return DigestStatus(
            next_at=self.schedule.next_after(now),
            zone=self.schedule.zone_name,
            subscribers=await self.subscriptions.count_active(),
            inactive_subscribers=await self.subscriptions.count_inactive(),
            channel=str(self.channel) if self.channel is not None else None,
            last_run=last_run,
            day_counts=await self.claims.counts(last_run.local_date) if last_run else {},
            channel_claim=(
                await self.claims.latest(str(self.channel)) if self.channel is not None else None
            ),
        )

    async def _run(self, deliver: Deliver, started: datetime) -> DigestRun:
        day = self.schedule.local_date(started)
        queue = await self.recipients(started)
        digests: dict[str, Digest] = {}
        sent = failed = retried = skipped = 0
        channel_error: str | None = None

        while queue:
            recipient = queue.pop(0)
            if recipient.language not in digests:
                digests[recipient.language] = await self.compose(recipient.language)
                self._log_missing(digests[recipient.language])
            if not await self.claims.claim(recipient.key, day, self.owner, self._clock()):
                skipped += 1
                continue

            delivery = await self._deliver(deliver, recipient, digests[recipient.language])
            await self.claims.finish(
                recipient.key,
                day,
                DigestClaimRepository.SENT if delivery.ok else DigestClaimRepository.FAILED,
                self._clock(),
                retried=delivery.retried,
                detail=delivery.detail,
            )
            retried += delivery.retried
            if delivery.ok:
                sent += 1
                continue

            failed += 1
            if recipient.is_channel:
                channel_error = delivery.detail or "failed"
            follow_up = await self._after_failure(recipient, delivery)
            if follow_up is not None:
                queue.insert(0, follow_up)

        run = DigestRun(
            day, started, self._clock(), self.owner, sent, failed, retried, skipped, channel_error
        )
        await self.runs.add(run)
        if self._stats is not None:
            self._stats.digest_sends.update(
                {"sent": sent, "failed": failed, "retried": retried, "skipped": skipped}
            )
        logger.info(
            "Digest for %s: sent=%d failed=%d retried=%d skipped=%d",
            day.isoformat(),
            sent,
            failed,
            retried,
            skipped,
        )
        return run

    async def _deliver(self, deliver: Deliver, recipient: Recipient, digest: Digest) -> Delivery:
        """Call the adapter; an error it did not expect fails this chat only."""
        try:
            return await deliver(recipient, digest)
        except Exception as error:
            logger.exception("Digest delivery to one chat failed unexpectedly")
            return Delivery(ok=False, detail=f"unexpected {type(error).__name__}")

    async def _after_failure(self, recipient: Recipient, delivery: Delivery) -> Recipient | None:
        """Retire a chat that is gone, or follow a group to its supergroup."""
        if recipient.is_channel or not isinstance(recipient.chat_id, int):
            return None
        now = self._clock()
        if delivery.moved_to is not None:
            await self.subscriptions.move(recipient.chat_id, delivery.moved_to, now)
            logger.info("A subscribed group became a supergroup; its subscription follows it")
            return Recipient(delivery.moved_to, recipient.language)
        if delivery.chat_gone:
            await self.subscriptions.deactivate(recipient.chat_id, delivery.detail or "gone", now)
        return None

    def _log_missing(self, digest: Digest) -> None:
        if digest.missing:
            logger.warning(
                "Digest (%s) goes out without: %s", digest.language, ", ".join(digest.missing)
            )

    async def _price_summary(self, now: datetime) -> PriceSummary | None:
        try:
            candles = await self._prices.window(SYMBOL, Interval.HOUR, PRICE_CHANGE_SPAN)
        except Exception:
            logger.warning("Digest: the prices could not be read", exc_info=True)
            return None
        if not candles:
            return None

        newest = candles[-1]
        as_of = newest.opened_at + newest.interval.length
        spans_a_day = newest.opened_at - candles[0].opened_at >= PRICE_CHANGE_SPAN
        change = (newest.close / candles[0].close - 1) * 100 if spans_a_day else None
        return PriceSummary(newest.close, change, as_of, max(now - as_of, timedelta(0)))

    async def _trend(self, window: str, language: str) -> TrendReport | None:
        try:
            return await self._trends.trend(window, language)
        except NoDataError:
            return None
        except Exception:
            # Whatever went wrong, the digest goes out without this analysis.
            logger.warning("Digest: no %s analysis", window, exc_info=True)
            return None

    async def _headlines(self, now: datetime) -> list[StoredHeadline] | None:
        try:
            latest = await self._news.latest(str(NEWS_MAX_COUNT))
        except Exception:
            logger.warning("Digest: the headlines could not be read", exc_info=True)
            return None
        recent = [item for item in latest if now - HEADLINES_SINCE <= item.shown_at <= now]
        return recent[:HEADLINES_SHOWN]

    async def _chart(self) -> PriceSeries | None:
        try:
            return await self._charts.series(DEFAULT_CHART_WINDOW)
        except BitcoinAnalyzerError:
            return None
        except Exception:
            logger.warning("Digest: no chart data", exc_info=True)
            return None
