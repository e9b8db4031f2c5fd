"""Logging: secrets masked everywhere, request ids, and JSON lines."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from bot.logs import MASK, configure_logging, request_id

TOKEN = "123456789:test-secret-after-the-colon"
GEMINI_KEY = "test-gemini-key-not-a-real-one-0123"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logging.getLogger().handlers.clear()
    # configure_logging takes over these process-wide hooks; give them back.
    logging.captureWarnings(False)
    sys.excepthook = sys.__excepthook__
    threading.excepthook = threading.__excepthook__


def test_secrets_and_the_token_after_its_colon_never_reach_the_log(captured: io.StringIO) -> None:
    configure_logging("DEBUG", [TOKEN, GEMINI_KEY], stream=captured)
    logger = logging.getLogger("tests.logs")

    logger.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    logger.info("key %s and half token %s", GEMINI_KEY, TOKEN.split(":")[1])
    try:
        raise RuntimeError(f"connection to /bot{TOKEN}/getUpdates failed")
    except RuntimeError:
        logger.exception("polling failed")

    output = captured.getvalue()
    assert TOKEN not in output
    assert TOKEN.split(":")[1] not in output
    assert GEMINI_KEY not in output
    assert output.count(MASK) == 4
    assert "Traceback" in output


def test_json_lines_carry_the_request_id(captured: io.StringIO) -> None:
    configure_logging("INFO", [TOKEN], log_format="json", stream=captured)
    token = request_id.set("ab12cd34")
    try:
        logging.getLogger("tests.logs").info("command=%s outcome=%s", "trend", "ok")
    finally:
        request_id.reset(token)

    entry = json.loads(captured.getvalue().splitlines()[-1])
    assert entry["request_id"] == "ab12cd34"
    assert entry["message"] == "command=trend outcome=ok"
    assert entry["level"] == "INFO"


def test_an_uncaught_exception_is_logged_through_the_mask(captured: io.StringIO) -> None:
    configure_logging("INFO", [TOKEN], stream=captured)
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError as error:
        sys.excepthook(type(error), error, error.__traceback__)

    output = captured.getvalue()
    assert "CRITICAL bitcoin_analyzer [-]: Uncaught exception" in output
    assert "RuntimeError: The token `[secret]` was rejected by the server." in output
    assert TOKEN.split(":")[1] not in output


def test_an_exception_that_ends_a_thread_is_logged_through_the_mask(
    captured: io.StringIO,
) -> None:
    configure_logging("INFO", [GEMINI_KEY], stream=captured)

    def fail() -> None:
        raise ValueError(f"bad key {GEMINI_KEY}")

    worker = threading.Thread(target=fail, name="worker")
    worker.start()
    worker.join()

    output = captured.getvalue()
    assert "Uncaught exception in thread worker" in output
    assert "ValueError: bad key [secret]" in output
    assert GEMINI_KEY not in output


def test_arguments_that_do_not_fit_the_message_are_masked_not_raised(
    captured: io.StringIO,
) -> None:
    configure_logging("INFO", [TOKEN], stream=captured)

    logging.getLogger("tests.logs").info("two values %s %s", TOKEN)

    output = captured.getvalue()
    assert "two values %s %s (arguments did not fit: ('[secret]',))" in output
    assert TOKEN.split(":")[1] not in output


def test_clients_that_log_addresses_headers_sql_or_messages_stay_quiet_at_debug(
    captured: io.StringIO,
) -> None:
    configure_logging("DEBUG", [TOKEN], stream=captured)

    levels = {
        name: logging.getLogger(name).getEffectiveLevel()
        for name in ("httpx", "httpcore", "google_genai._api_client", "aiosqlite")
    }

    assert levels == dict.fromkeys(levels, logging.WARNING)
    # PTB's DEBUG lines that hold whole updates and replies (users' words) stay out too.
    assert logging.getLogger("telegram.ext.ExtBot").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("telegram.ext.Application").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("telegram.ext.Updater").getEffectiveLevel() == logging.DEBUG


def test_a_refused_token_is_logged_without_its_traceback(captured: io.StringIO) -> None:
    from telegram.error import InvalidToken

    configure_logging("INFO", [TOKEN], stream=captured)
    try:
        raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
    except InvalidToken:
        logging.getLogger("telegram.ext").exception("Invalid token. Aborting retry loop.")

    output = captured.getvalue()
    assert "Invalid token. Aborting retry loop." in output
    assert "Traceback" not in output
    assert TOKEN not in output
