"""The Telegram adapter: a python-telegram-bot Application over the shared command table."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
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
from bot.replies import HTML
from bot.splitting import split_message
from bot.texts import language_of, text
from core.errors import ConfigError
from core.ingestion import SourceReport
from core.runtime import Runtime
from core.settings import Settings

logger = logging.getLogger(__name__)

JobCallback = Callable[[ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
# The only updates the bot asks Telegram for; the handlers take new messages alone.
ALLOWED_UPDATES = ["message"]
# Attempts at setWebhook or deleteWebhook at start before giving up (PTB backs off between).
BOOTSTRAP_RETRIES = 5

COMMAND_NAMES = ("start", "help", "trend", "news", "status")

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
    builder = ApplicationBuilder()
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        builder = (
            builder.connect_timeout(timeout)
            .read_timeout(timeout)
            .write_timeout(timeout)
            .pool_timeout(timeout)
            .get_updates_connect_timeout(timeout)
            .get_updates_read_timeout(timeout + 30)
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
        .post_init(_open_runtime(settings))
        .post_shutdown(_close_runtime)
        .build()
    )

    # New messages only: an edited "/trend" must not run the command a second time.
    new_messages = filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler(list(COMMAND_NAMES), _on_command, filters=new_messages))
    application.add_error_handler(_on_error)
    return application


def run(application: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """Serve updates until SIGINT or SIGTERM: through the webhook when WEBHOOK_URL is set.

    With a webhook, Telegram posts each update to WEBHOOK_URL, which a reverse proxy forwards
    to WEBHOOK_LISTEN:WEBHOOK_PORT under the same path; every request without the secret
    header Telegram was given is refused with 403. Several replicas may serve the same
    webhook behind a load balancer. Without a webhook the bot long-polls, and only one
    process may poll a bot token at a time.
    """
    if not settings.webhook_enabled:
        logger.info("Receiving updates by long polling")
        application.run_polling(
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
            bootstrap_retries=BOOTSTRAP_RETRIES,
        )
        return

    options = webhook_options(settings)
    logger.info(
        "Receiving updates through the webhook, listening on %s:%d/%s",
        options["listen"],
        options["port"],
        options["url_path"],
    )
    application.run_webhook(
        **options,
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
        bootstrap_retries=BOOTSTRAP_RETRIES,
    )


def webhook_options(settings: Settings) -> dict[str, Any]:
    """The listener's address, the path it serves, the public URL and the secret token.

    Raises:
        ConfigError: WEBHOOK_URL or WEBHOOK_SECRET is not set.
    """
    if not settings.webhook_url or settings.webhook_secret is None:
        raise ConfigError("Invalid setting WEBHOOK_URL: webhook mode needs it and WEBHOOK_SECRET")
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": urlsplit(settings.webhook_url).path.lstrip("/"),
        "webhook_url": settings.webhook_url,
        "secret_token": settings.webhook_secret.get_secret_value(),
    }


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
    time of one interval, and several missed runs coalesce into one. Every replica schedules
    both jobs, and the job leases let one replica at a time run each (see ``core.leases``).
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
            leased(name, callback, seconds, settings.job_lease_seconds),
            interval=seconds,
            first=1,
            name=name,
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": int(seconds)},
        )


def leased(
    name: str, job: JobCallback, interval_seconds: float, lease_seconds: float
) -> JobCallback:
    """Wrap a scheduled job so that it runs only on the replica holding its lease.

    The lease is kept an interval and a lease time past each run: the holder's next run
    renews it, while the other replicas' timers find it taken until the holder stops.
    """
    ttl = timedelta(seconds=lease_seconds)
    linger = timedelta(seconds=interval_seconds) + ttl

    async def run_if_held(context: ContextTypes.DEFAULT_TYPE) -> None:
        runtime: Runtime = context.bot_data["runtime"]
        async with runtime.leases.hold(name, ttl, linger=linger) as held:
            if not held:
                return
            await job(context)

    return run_if_held


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
            await message.reply_text(part)
    except Exception:
        log_handled(runtime, command, message.chat_id, "error", started)
        raise

    log_handled(runtime, command, message.chat_id, result.outcome, started, result.details)


def _split_command(message_text: str) -> tuple[str, str]:
    """``"/trend@SomeBot 7d"`` gives ``("trend", "7d")``."""
    head, _, arguments = message_text.partition(" ")
    command = head.lstrip("/").split("@", 1)[0].lower()
    return command, arguments


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: log with the traceback, tell the user briefly, show no internals."""
    logger.error("Unhandled error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_message is None:
        return

    language = "en"
    if isinstance(context.chat_data, dict):
        language = context.chat_data.get("language", "en")
    try:
        await update.effective_message.reply_text(text(language, "error.internal"))
    except TelegramError:
        logger.warning("Could not tell the user about the error", exc_info=True)
