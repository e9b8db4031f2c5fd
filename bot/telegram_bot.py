"""The Telegram adapter: a python-telegram-bot Application over the shared command table."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import Any

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    Defaults,
    Job,
    filters,
)
from telegram.request import BaseRequest

from bot.commands import Commands, Requester, log_handled
from bot.health import HealthServer
from bot.logs import request_id
from bot.polling import PollingRequest, PollingWatch, is_polling_error
from bot.replies import HTML
from bot.sending import reply_text
from bot.splitting import split_message
from bot.texts import language_of, text
from core.errors import ConfigError
from core.ingestion import SourceReport
from core.runtime import Runtime
from core.settings import Settings

logger = logging.getLogger(__name__)

COMMAND_NAMES = ("start", "help", "trend", "news", "status")
# Only new messages are fetched: an edited "/trend" must not run the command a second time.
ALLOWED_UPDATES = ("message",)
# How many times a message refused with 429 (flood control) is sent again, once the wait
# Telegram asked for is over.
FLOOD_RETRIES = 2

COMMAND_DESCRIPTIONS = {
    "en": {
        "trend": "Is Bitcoin going up, down or sideways? /trend 7d",
        "news": "Latest crypto headlines",
        "status": "Bot health (admins)",
        "help": "What this bot does",
    },
    "fr": {
        "trend": "Le bitcoin monte, baisse ou stagne ? /trend 7j",
        "news": "Derniers titres de l’actualité crypto",
        "status": "Santé du bot (administrateurs)",
        "help": "Ce que fait ce bot",
    },
}


def build_application(
    settings: Settings, *, request: BaseRequest | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the Application; the runtime is opened in ``post_init`` and closed at shutdown.

    Args:
        settings: The settings read at start.
        request: The object that sends Bot API calls, when not PTB's default HTTP one (tests
            pass one that records the calls).

    Raises:
        ConfigError: No bot token is set.
    """
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        raise ConfigError("Invalid setting TELEGRAM_BOT_TOKEN: required to run the Telegram bot")

    timeout = settings.telegram_timeout_seconds
    polling = PollingWatch()
    builder = ApplicationBuilder()
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        builder = (
            builder.connect_timeout(timeout)
            .read_timeout(timeout)
            .write_timeout(timeout)
            .pool_timeout(timeout)
            .get_updates_request(
                PollingRequest(
                    on_success=polling.succeeded,
                    connection_pool_size=1,
                    connect_timeout=timeout,
                    read_timeout=timeout + 30,
                    write_timeout=timeout,
                    pool_timeout=timeout,
                )
            )
        )
    application = (
        builder.token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_file_base_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(AIORateLimiter(max_retries=FLOOD_RETRIES))
        .post_init(_open_runtime(settings))
        .post_shutdown(_close_runtime)
        .build()
    )

    # New messages only: an edited "/trend" must not run the command a second time.
    new_messages = filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler(list(COMMAND_NAMES), _on_command, filters=new_messages))
    application.add_error_handler(_on_error)
    application.bot_data["polling"] = polling
    return application


def run_polling(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Fetch updates by long polling until SIGINT or SIGTERM, then shut down cleanly.

    Raises:
        ConfigError: Telegram refused the bot token.
    """
    try:
        application.run_polling(allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False)
    except InvalidToken as error:
        # PTB's message holds the whole token; it must not reach the terminal.
        raise ConfigError(
            "Invalid setting TELEGRAM_BOT_TOKEN: Telegram refused the token "
            "(check it with @BotFather)"
        ) from error


def _open_runtime(settings: Settings) -> Any:
    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        runtime = await Runtime.start(settings)
        application.bot_data["runtime"] = runtime
        application.bot_data["commands"] = Commands(runtime, lambda: _scheduled_jobs(application))
        await _register_commands(application)
        if settings.ingestion_enabled:
            _schedule_ingestion(application, settings)
        if settings.metrics_port is not None:
            health = HealthServer(
                runtime,
                lambda: application.updater is not None and application.updater.running,
                settings.metrics_host,
                settings.metrics_port,
            )
            await health.start()
            application.bot_data["health"] = health
        logger.info("Bot @%s (id %s) ready", application.bot.username, application.bot.id)

    return post_init


def _schedule_ingestion(
    application: Application[Any, Any, Any, Any, Any, Any], settings: Settings
) -> None:
    """Run price and news ingestion on a schedule, each job never overlapping itself.

    A run that starts late (the loop was busy, the machine slept) still runs within a grace
    time of one interval, and several missed runs coalesce into one.
    """
    job_queue = application.job_queue
    if job_queue is None:
        raise ConfigError("the job queue is missing: install python-telegram-bot[job-queue]")

    for name, callback, minutes in (
        ("ingest-prices", _ingest_prices_job, settings.price_ingest_minutes),
        ("ingest-news", _ingest_news_job, settings.news_ingest_minutes),
    ):
        seconds = minutes * 60
        job_queue.run_repeating(
            callback,
            interval=seconds,
            first=1,
            name=name,
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": int(seconds)},
        )


async def _ingest_prices_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime: Runtime = context.bot_data["runtime"]
    started = time.perf_counter()
    reports = await runtime.ingest_prices()
    _log_job("ingest-prices", reports, started)


async def _ingest_news_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime: Runtime = context.bot_data["runtime"]
    started = time.perf_counter()
    reports = await runtime.ingest_news()
    _log_job("ingest-news", reports, started)


def _log_job(name: str, reports: list[SourceReport], started: float) -> None:
    logger.info(
        "job=%s stored=%d new=%d rejected=%d failed_sources=%d duration_ms=%.0f",
        name,
        sum(report.stored for report in reports),
        sum(report.new for report in reports),
        sum(sum(report.rejected.values()) for report in reports),
        sum(1 for report in reports if report.error),
        (time.perf_counter() - started) * 1000,
    )


def _scheduled_jobs(
    application: Application[Any, Any, Any, Any, Any, Any],
) -> list[tuple[str, datetime | None]]:
    """Each scheduled job's name and next run, for /status."""
    if application.job_queue is None:
        return []
    return [(job.name or "job", _next_run(job)) for job in application.job_queue.jobs()]


def _next_run(job: Job[Any]) -> datetime | None:
    # A job added before the scheduler starts has no next run time yet.
    try:
        return job.next_t
    except AttributeError:
        return None


async def _close_runtime(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    health: HealthServer | None = application.bot_data.pop("health", None)
    if health is not None:
        await health.stop()
    runtime: Runtime | None = application.bot_data.pop("runtime", None)
    if runtime is not None:
        await runtime.close()


async def _register_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Publish the command menu, in English by default and in French for French users."""
    for language, descriptions in COMMAND_DESCRIPTIONS.items():
        commands = [BotCommand(name, description) for name, description in descriptions.items()]
        await application.bot.set_my_commands(
            commands, language_code=None if language == "en" else language
        )


async def _on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer any command of the table, logging one line with the latency."""
    message = update.effective_message
    if message is None or not message.text:
        return

    started = time.perf_counter()
    request_id.set(uuid.uuid4().hex[:8])
    runtime: Runtime = context.bot_data["runtime"]
    commands: Commands = context.bot_data["commands"]
    command, arguments = _split_command(message.text)
    user = update.effective_user
    requester = Requester(
        chat_id=message.chat_id,
        user_id=user.id if user else None,
        language=language_of(
            user.language_code if user else None, runtime.settings.default_language
        ),
        is_admin=user is not None and user.id in runtime.settings.admin_ids,
    )
    if context.chat_data is not None:
        context.chat_data["language"] = requester.language

    try:
        if command == "trend":
            await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        result = await commands.run(command, arguments, requester, HTML)
        for part in split_message(result.text):
            await reply_text(message, part, what=f"reply to /{command}")
    except Exception:
        log_handled(runtime, command, message.chat_id, "error", started)
        raise

    log_handled(runtime, command, message.chat_id, result.outcome, started, result.details)


def _split_command(message_text: str) -> tuple[str, str]:
    """``"/trend@SomeBot 7d"`` gives ``("trend", "7d")``; any whitespace ends the command."""
    head, *rest = message_text.split(maxsplit=1)
    command = head.lstrip("/").split("@", 1)[0].lower()
    return command, rest[0] if rest else ""


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: log with the traceback, tell the user briefly, show no internals.

    A failed poll reaches this handler too, with no update and no job: it goes to the
    polling watch, which logs one line per episode instead of a traceback on every poll.
    """
    if update is None and context.job is None and is_polling_error(context.error):
        polling: PollingWatch = context.bot_data["polling"]
        polling.failed(context.error)  # type: ignore[arg-type]
        return

    logger.error("Unhandled error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_message is None:
        return

    language = "en"
    if isinstance(context.chat_data, dict):
        language = context.chat_data.get("language", "en")
    try:
        await reply_text(update.effective_message, text(language, "error.internal"), what="error")
    except TelegramError:
        logger.warning("Could not tell the user about the error", exc_info=True)
