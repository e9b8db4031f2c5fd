"""Logging set up once for the whole process, with secrets masked wherever they appear."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import TextIO

from telegram.error import InvalidToken

MASK = "[secret]"

# The id of the update being handled, so that every line it causes can be found together.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Clients that log whole request URLs (the Bot API puts the token in every URL) or headers
# (the Gemini key travels in one), a driver that logs every SQL call at DEBUG, and Alembic,
# which logs each step of a migration where storage.schema logs one line.
CHATTY_LOGGERS = (
    "httpx",
    "httpcore",
    "apscheduler",
    "google_genai",
    "hpack",
    "aiosqlite",
    "alembic",
)
# PTB's loggers that, at DEBUG, write every update and every Bot API call in full: the users'
# messages and our replies. They keep their INFO milestones.
CONTENT_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Application")


class SecretMasker(logging.Filter):
    """Replaces each known secret, and the part of a bot token after its colon, by a mask.

    It runs on the handler, after the message and any traceback are formatted, so a secret
    inside an exception's text is masked as well.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        pieces = set()
        for secret in secrets:
            if not secret:
                continue
            pieces.add(secret)
            _, _, after_colon = secret.partition(":")
            if len(after_colon) >= 8:
                pieces.add(after_colon)
        # Longest first, so a whole token is masked before the part of it.
        self._secrets = sorted(pieces, key=len, reverse=True)

    def mask(self, value: str) -> str:
        """The value with every secret replaced."""
        for secret in self._secrets:
            value = value.replace(secret, MASK)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        """Format the record once, mask it, and keep the masked text only."""
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Arguments that do not fit the format: logging would print them raw to stderr.
            message = f"{record.msg} (arguments did not fit: {record.args!r})"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.mask(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


class ExplainedErrorFilter(logging.Filter):
    """Drops the traceback of errors the command line explains in one line of its own.

    A refused bot token makes PTB log the whole traceback before the bot stops; the user then
    reads ``Invalid setting TELEGRAM_BOT_TOKEN: ...``, which says all there is to say.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, without its traceback when the error is explained elsewhere."""
        if record.exc_info and isinstance(record.exc_info[1], InvalidToken):
            record.exc_info = None
            record.exc_text = None
        return True


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the update being handled, or ``-``."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``record.request_id``."""
        record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, request id, message, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record, already masked, as a JSON line."""
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        entry = {
            "time": moment.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def configure_logging(
    level: str,
    secrets: Iterable[str] = (),
    log_format: str = "text",
    stream: TextIO | None = None,
) -> None:
    """Send logs to standard error at ``level``, secrets masked, chatty clients quietened.

    Args:
        level: The root level (``INFO``...).
        secrets: Values that must never appear in a log line.
        log_format: ``text`` for people, ``json`` for a log collector (one object a line).
        stream: Where the lines go; standard error when None.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(ExplainedErrorFilter())
    handler.addFilter(SecretMasker(secrets))

    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)

    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))

    # Warnings and uncaught exceptions would otherwise be printed straight to standard error,
    # past the masking filter (PTB's InvalidToken, for one, holds the whole token).
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    """Log an exception nothing caught, through the masking handler."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    logging.getLogger("bitcoin_analyzer").critical(
        "Uncaught exception", exc_info=(kind, error, traceback)
    )


def _log_uncaught_in_thread(arguments: threading.ExceptHookArgs) -> None:
    """Log an exception that ended a thread, through the masking handler."""
    if arguments.exc_value is None:
        return
    logging.getLogger("bitcoin_analyzer").critical(
        "Uncaught exception in thread %s",
        arguments.thread.name if arguments.thread else "?",
        exc_info=(arguments.exc_type, arguments.exc_value, arguments.exc_traceback),
    )
