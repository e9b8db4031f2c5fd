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
    help_reply,
    input_error_reply,
    news_reply,
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
    """Who sent a command, as far as answering it is concerned."""

    chat_id: int | None
    user_id: int | None
    language: str
    is_admin: bool


@dataclass(slots=True)
class CommandResult:
    """A reply and how it went, for the log line and the counters.

    Attributes:
        text: The reply, in the markup that was asked for.
        outcome: ``ok``, ``usage``, ``denied``, ``limited``, ``no_data`` or ``unknown``.
        details: Extra fields for the log line (the analyst's origin and latency).
    """

    text: str
    outcome: str = "ok"
    details: dict[str, object] = field(default_factory=dict)


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
