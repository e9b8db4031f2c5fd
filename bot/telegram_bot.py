"""The Telegram adapter: a python-telegram-bot Application over the shared command table."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import Bot, BotCommand, LinkPreviewOptions, Message, Update, User
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, ParseMode
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

from bot.commands import CommandResult, Commands, Requester, log_handled
from bot.digest import Pacer, Sleep, run_digest
from bot.health import HealthServer
from bot.logs import request_id
from bot.polling import PollingRequest, PollingWatch, is_polling_error
from bot.replies import HTML
from bot.sending import reply_photo, reply_text
from bot.splitting import split_message
from bot.texts import language_of, text
from core.errors import ConfigError, NoDataError
from core.ingestion import SourceReport
from core.runtime import Runtime
from core.services import utc_now
from core.settings import Settings

logger = logging.getLogger(__name__)

JobCallback = Callable[[ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
# The only updates the bot asks Telegram for; the handlers take new messages alone.
ALLOWED_UPDATES = ["message"]
# Attempts at setWebhook or deleteWebhook at start before giving up (PTB backs off between).
BOOTSTRAP_RETRIES = 5

COMMAND_NAMES = (
    "start",
    "help",
    "trend",
    "news",
    "chart",
    "digest",
    "subscribe",
    "unsubscribe",
    "status",
)
SUBSCRIPTION_COMMANDS = frozenset({"subscribe", "unsubscribe"})
PHOTO_COMMANDS = frozenset({"chart", "digest"})
# The start-up check for a digest missed while the bot was down runs this soon after start.
DIGEST_STARTUP_DELAY_SECONDS = 2.0

COMMAND_DESCRIPTIONS = {
    "en": {
        "trend": "Is Bitcoin going up, down or sideways? /trend 7d",
        "news": "Latest crypto headlines",
        "chart": "Price chart as a picture: /chart 30d",
        "digest": "Preview today's daily digest",
        "subscribe": "Get the daily digest in this chat",
        "unsubscribe": "Stop the daily digest",
        "status": "Bot health (admins)",
        "help": "What this bot does",
    },
    "fr": {
        "trend": "Le bitcoin monte, baisse ou stagne ? /trend 7j",
        "news": "Derniers titres de l’actualité crypto",
        "chart": "Graphique du prix en image : /chart 30j",
        "digest": "Aperçu du résumé quotidien",
        "subscribe": "Recevoir le résumé quotidien ici",
        "unsubscribe": "Arrêter le résumé quotidien",
        "status": "Santé du bot (administrateurs)",
        "help": "Ce que fait ce bot",
    },
}


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    clock: Callable[[], datetime] = utc_now,
    sleep: Sleep = asyncio.sleep,
    pacer: Pacer | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the Application; the runtime is opened in ``post_init`` and closed at shutdown.

    Args:
        settings: The settings read at start.
        request: The object that sends Bot API calls, when not PTB's default HTTP one (tests
            pass one that records the calls).
        clock: The present time for the runtime; tests move it by hand.
        sleep: How the digest waits out Telegram's flood control; tests record the waits.
        pacer: The digest's pacing, when not Telegram's limits.

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
        # Updates are handled side by side: one /trend waiting seconds on Gemini must not
        # hold every other user's command behind it (PTB handles one at a time by default).
        .concurrent_updates(settings.concurrent_updates)
        # Pacing only, under Telegram's limits (30 a second, 20 a minute in a group): a 429
        # is waited out by whoever sent (bot.sending for replies, bot.digest for the digest).
        .rate_limiter(AIORateLimiter(max_retries=0))
        .post_init(_open_runtime(settings, clock))
        .post_shutdown(_close_runtime)
        .build()
    )

    # New messages only: an edited "/trend" must not run the command a second time.
    new_messages = filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler(list(COMMAND_NAMES), _on_command, filters=new_messages))
    application.add_error_handler(_on_error)
    application.bot_data["pacer"] = pacer or Pacer()
    application.bot_data["sleep"] = sleep
    application.bot_data["polling"] = polling
    return application


def run(application: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """Serve updates until SIGINT or SIGTERM: through the webhook when WEBHOOK_URL is set.

    Raises:
        ConfigError: Telegram refused the bot token, or the webhook settings are incomplete.
    """
    try:
        _serve(application, settings)
    except InvalidToken as error:
        # PTB's message holds the whole token; it must not reach the terminal.
        raise ConfigError(
            "Invalid setting TELEGRAM_BOT_TOKEN: Telegram refused the token "
            "(check it with @BotFather)"
        ) from error


def _serve(application: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """Long-poll, or listen for the webhook, until a stop signal.

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


def _open_runtime(settings: Settings, clock: Callable[[], datetime]) -> Any:
    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        runtime = await Runtime.start(settings, clock=clock)
        application.bot_data["runtime"] = runtime
        application.bot_data["commands"] = Commands(runtime, lambda: _scheduled_jobs(application))
        await _register_commands(application)
        if settings.ingestion_enabled:
            _schedule_ingestion(application, settings)
        if settings.digest_enabled:
            schedule_digest(application, runtime)
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


def schedule_digest(
    application: Application[Any, Any, Any, Any, Any, Any], runtime: Runtime
) -> None:
    """Run the digest every day at its local time, and once just after start.

    The daily job fires at a zone-aware time (APScheduler's cron trigger in the digest's
    zone), so the host's own zone never matters. The run just after start sends a digest
    missed while the bot was down, when its time has passed on the same local day; if it has
    not, that run does nothing. A job that fires late still runs (no misfire limit): the run
    itself checks the local date and the claims, so a late or repeated run never sends twice.
    """
    job_queue = application.job_queue
    if job_queue is None:
        raise ConfigError("the job queue is missing: install python-telegram-bot[job-queue]")

    job_kwargs = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    job_queue.run_daily(
        _digest_job, time=runtime.digest.schedule.aware_time, name="digest", job_kwargs=job_kwargs
    )
    job_queue.run_once(
        _digest_job,
        when=DIGEST_STARTUP_DELAY_SECONDS,
        name="digest-startup",
        job_kwargs=job_kwargs,
    )
    logger.info(
        "Digest every day at %s %s; next at %s UTC",
        runtime.settings.digest_time.strftime("%H:%M"),
        runtime.digest.schedule.zone_name,
        runtime.digest.schedule.next_after(runtime.digest.now()).strftime("%Y-%m-%d %H:%M"),
    )


async def _digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the digest, unless another replica holds its lease.

    A replica that finds the lease taken looks again once that lease could have lapsed, so
    that it takes over from a holder that died mid-run; the digest's claims make such a
    second run send nothing that was already sent.
    """
    runtime: Runtime = context.bot_data["runtime"]
    ttl = timedelta(seconds=runtime.settings.job_lease_seconds)
    async with runtime.leases.hold("digest", ttl) as held:
        if not held:
            if context.job_queue is not None:
                context.job_queue.run_once(
                    _digest_job, when=ttl.total_seconds() + 1, name="digest-retry"
                )
            return
        await send_digest(context.application)


async def send_digest(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """One digest run through the application's bot (the job's body, callable from tests)."""
    runtime: Runtime = application.bot_data["runtime"]
    try:
        await run_digest(
            runtime.digest,
            application.bot,
            runtime.charts,
            application.bot_data["pacer"],
            admin_ids=runtime.settings.admin_ids,
            admin_language=runtime.settings.default_language,
            sleep=application.bot_data["sleep"],
        )
    except NoDataError:
        logger.warning("No digest sent: no price, analysis or headline is available yet")


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
    try:
        chat_admin = command in SUBSCRIPTION_COMMANDS and await _is_chat_admin(
            context.bot, message, user
        )
        requester = Requester(
            chat_id=message.chat_id,
            user_id=user.id if user else None,
            language=language_of(
                user.language_code if user else None, runtime.settings.default_language
            ),
            is_admin=user is not None and user.id in runtime.settings.admin_ids,
            chat_type=message.chat.type,
            chat_admin=chat_admin,
        )
        if context.chat_data is not None:
            context.chat_data["language"] = requester.language

        if command == "trend":
            await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        if command in PHOTO_COMMANDS:
            await context.bot.send_chat_action(message.chat_id, ChatAction.UPLOAD_PHOTO)
        result = await commands.run(command, arguments, requester, HTML)
        await _reply(message, result, command)
    except Exception:
        log_handled(runtime, command, message.chat_id, "error", started)
        raise

    log_handled(runtime, command, message.chat_id, result.outcome, started, result.details)


async def _reply(message: Message, result: CommandResult, command: str) -> None:
    """Send the picture with its caption if there is one, then the text in parts."""
    what = f"reply to /{command}"
    if result.photo is not None:
        await reply_photo(message, result.photo, result.caption or None, what=what)
    if result.text:
        for part in split_message(result.text):
            await reply_text(message, part, what=what)


async def _is_chat_admin(bot: Bot, message: Message, user: User | None) -> bool:
    """Whether the sender may manage the chat: anyone in private, admins in groups.

    An anonymous group admin writes as the group itself (``sender_chat``); only the chat's
    administrators can do that. Anyone else is looked up with getChatMember.
    """
    chat = message.chat
    if chat.type == ChatType.PRIVATE:
        return True
    if message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True
    if user is None:
        return False

    try:
        member = await bot.get_chat_member(chat.id, user.id)
    except TelegramError as error:
        logger.warning("Could not check a chat member's rights: %s", error.message)
        return False
    return member.status in {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


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
