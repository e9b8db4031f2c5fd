"""Logging: secrets masked everywhere, request ids, and JSON lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import MASK, configure_logging, request_id

TOKEN = "123456789:AAHsecretPartOfTheTokenForTests_0123456"
GEMINI_KEY = "AIzaTestGeminiKeyNotReal0123456789abcdefg"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logging.getLogger().handlers.clear()


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
