"""The commands both adapters answer: parse the arguments, call one service, write the reply.

Telegram and the console differ only in how a command arrives and how the reply leaves;
what a command means lives here once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.replies import (
    Markup,
    chart_caption,
    chart_labels,
    chart_usage_reply,
    help_reply,
    input_error_reply,
    news_reply,
    render_digest,
    schedule_words,
    status_reply,
    trend_reply,
)
from bot.texts import text
from core.errors import InputError, NoDataError
from core.runtime import Runtime
from core.windows import parse_window

logger = logging.getLogger(__name__)

# Arguments longer than this are refused before any parsing or query.
ARGUMENTS_MAX_CHARS = 64


@dataclass(frozen=True, slots=True)
class Requester:
    """Who sent a command, as far as answering it is concerned.

    Attributes:
        chat_id: The chat the command came from (None at the console).
        user_id: Who sent it, when known.
        language: The reply language.
        is_admin: Whether the sender is one of the bot's administrators (ADMIN_IDS).
        chat_type: ``private``, ``group``, ``supergroup`` or ``channel``; None at the console.
        chat_admin: Whether the sender administers the chat (always true in a private chat).
    """

    chat_id: int | None
    user_id: int | None
    language: str
    is_admin: bool
    chat_type: str | None = None
    chat_admin: bool = False


@dataclass(slots=True)
class CommandResult:
    """A reply and how it went, for the log line and the counters.

    Attributes:
        text: The reply, in the markup that was asked for; empty when the picture says it all.
        outcome: ``ok``, ``usage``, ``denied``, ``limited``, ``no_data`` or ``unknown``.
        details: Extra fields for the log line (the analyst's origin and latency).
        photo: A PNG picture sent before the text, if any.
        caption: The picture's caption, in the same markup.
        photo_name: A file name for the picture without extension (the console saves it).
    """

    text: str
    outcome: str = "ok"
    details: dict[str, object] = field(default_factory=dict)
    photo: bytes | None = None
    caption: str = ""
    photo_name: str = "chart"


Handler = Callable[[str, Requester, Markup], Awaitable[CommandResult]]
JobsProvider = Callable[[], Sequence[tuple[str, datetime | None]]]


class Commands:
    """The command table: each name maps to one coroutine of the same shape."""

    def __init__(self, runtime: Runtime, jobs: JobsProvider | None = None) -> None:
        """Prepare the table.

        Args:
            runtime: The running services.
            jobs: Tells the scheduled jobs and their next run, for /status; None when the
                adapter schedules nothing (the console).
        """
        self._runtime = runtime
        self._jobs = jobs
        self._table: dict[str, Handler] = {
            "start": self._help,
            "help": self._help,
            "trend": self._trend,
            "news": self._news,
            "chart": self._chart,
            "digest": self._digest,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "status": self._status,
        }

    @property
    def names(self) -> Sequence[str]:
        """The commands answered, in the order /help lists them."""
        return tuple(self._table)

    async def run(
        self, command: str, arguments: str, requester: Requester, markup: Markup
    ) -> CommandResult:
        """Answer one command; bad input gives a usage message, never an exception."""
        handler = self._table.get(command)
        if handler is None:
            reply = markup.escape(text(requester.language, "error.unknown_command"))
            return CommandResult(reply, outcome="unknown")

        arguments = arguments.strip()
        if len(arguments) > ARGUMENTS_MAX_CHARS:
            error = InputError("argument too long", code="invalid_input")
            return CommandResult(input_error_reply(error, requester.language, markup), "usage")

        try:
            return await handler(arguments, requester, markup)
        except InputError as error:
            return CommandResult(input_error_reply(error, requester.language, markup), "usage")
        except NoDataError:
            reply = markup.escape(text(requester.language, "error.no_data"))
            return CommandResult(reply, outcome="no_data")

    async def _help(self, _arguments: str, requester: Requester, markup: Markup) -> CommandResult:
        return CommandResult(help_reply(requester.language, markup))

    async def _trend(self, arguments: str, requester: Requester, markup: Markup) -> CommandResult:
        # A window we cannot read is refused before it spends one of the user's calls.
        parse_window(arguments or None)
        user_id = requester.user_id
        if not requester.is_admin and user_id is not None:
            if not await self._runtime.trend_limiter.allow(user_id):
                reply = markup.escape(text(requester.language, "error.rate_limited"))
                return CommandResult(reply, outcome="limited")

        report = await self._runtime.trends.trend(arguments or None, requester.language)
        details = {"analyst": report.origin, "analyst_ms": round(report.analyst_ms)}
        if report.fallback_reason:
            details["fallback"] = report.fallback_reason
        return CommandResult(trend_reply(report, requester.language, markup), details=details)

    async def _news(self, arguments: str, requester: Requester, markup: Markup) -> CommandResult:
        items = await self._runtime.news.latest(arguments or None)
        return CommandResult(news_reply(items, requester.language, markup))

    async def _chart(self, arguments: str, requester: Requester, markup: Markup) -> CommandResult:
        try:
            series = await self._runtime.charts.series(arguments or None)
        except InputError as error:
            return CommandResult(chart_usage_reply(error, requester.language, markup), "usage")

        photo = await self._runtime.charts.render(series, chart_labels(series, requester.language))
        return CommandResult(
            "",
            photo=photo,
            caption=chart_caption(series, requester.language, markup),
            photo_name=f"chart-{series.window.label}-{series.as_of:%Y%m%d-%H%M}",
            details={"window": series.window.label, "png_bytes": len(photo)},
        )

    async def _digest(
        self, _arguments: str, requester: Requester, markup: Markup
    ) -> CommandResult:
        """A preview of today's digest for the requester alone: nothing is claimed."""
        digest = await self._runtime.digest.compose(requester.language)
        rendered = await render_digest(digest, self._runtime.charts, markup, for_subscriber=False)
        details: dict[str, object] = {}
        if digest.missing:
            details["missing"] = ",".join(digest.missing)
        return CommandResult(
            rendered.text,
            photo=rendered.photo,
            caption=rendered.caption,
            photo_name=f"digest-{digest.local_date.isoformat()}",
            details=details,
        )

    async def _subscribe(
        self, _arguments: str, requester: Requester, markup: Markup
    ) -> CommandResult:
        refusal = self._subscription_refusal(requester, markup)
        if refusal is not None:
            return refusal
        assert requester.chat_id is not None and requester.chat_type is not None

        settings = self._runtime.settings
        new, next_at = await self._runtime.digest.subscribe(
            requester.chat_id, requester.chat_type, requester.language
        )
        words = schedule_words(settings.digest_time, settings.digest_tz, next_at)
        key = "subscribe.done" if new else "subscribe.already"
        return CommandResult(markup.escape(text(requester.language, key, **words)))

    async def _unsubscribe(
        self, _arguments: str, requester: Requester, markup: Markup
    ) -> CommandResult:
        refusal = self._subscription_refusal(requester, markup, unsubscribing=True)
        if refusal is not None:
            return refusal
        assert requester.chat_id is not None

        was_subscribed = await self._runtime.digest.unsubscribe(requester.chat_id)
        key = "unsubscribe.done" if was_subscribed else "unsubscribe.not_subscribed"
        return CommandResult(markup.escape(text(requester.language, key)))

    def _subscription_refusal(
        self, requester: Requester, markup: Markup, *, unsubscribing: bool = False
    ) -> CommandResult | None:
        """Why this requester may not (un)subscribe this chat, as a reply; None if they may."""
        language = requester.language
        if requester.chat_id is None or requester.chat_type is None:
            return CommandResult(markup.escape(text(language, "subscribe.telegram_only")), "usage")
        if not unsubscribing and not self._runtime.settings.digest_enabled:
            return CommandResult(markup.escape(text(language, "subscribe.disabled")), "denied")
        if requester.chat_type != "private" and not requester.chat_admin:
            return CommandResult(markup.escape(text(language, "subscribe.admins_only")), "denied")
        return None

    async def _status(
        self, _arguments: str, requester: Requester, markup: Markup
    ) -> CommandResult:
        if not requester.is_admin:
            reply = markup.escape(text(requester.language, "status.denied"))
            return CommandResult(reply, outcome="denied")
        report = await self._runtime.status.status()
        if self._jobs is not None:
            report = dataclasses.replace(report, jobs=tuple(self._jobs()))
        return CommandResult(status_reply(report, requester.language, markup))


def log_handled(
    runtime: Runtime,
    command: str,
    chat_id: int | None,
    outcome: str,
    started: float,
    details: dict[str, object] | None = None,
) -> None:
    """Count a handled command and write its one INFO line, latency included."""
    milliseconds = (time.perf_counter() - started) * 1000
    runtime.stats.record_update(command, outcome, milliseconds)
    extra = "".join(f" {key}={value}" for key, value in (details or {}).items())
    logger.info(
        "command=%s chat=%s outcome=%s latency_ms=%.0f%s",
        command,
        chat_id,
        outcome,
        milliseconds,
        extra,
    )
