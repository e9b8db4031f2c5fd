"""Logging set up once for the whole process, with secrets masked wherever they appear."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from types import TracebackType

MASK = "[secret]"

# Clients that log whole request URLs (the Bot API puts the token in every URL) or headers
# (the Gemini key travels in one), and a driver that logs every SQL call at DEBUG.
CHATTY_LOGGERS = ("httpx", "httpcore", "apscheduler", "google_genai", "hpack", "aiosqlite")


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


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Send logs to standard error at ``level``, secrets masked, chatty clients quietened."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMasker(secrets))

    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)

    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))

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
