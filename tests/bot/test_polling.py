"""Failed polls give one log line per episode, and a good poll ends the episode."""

from __future__ import annotations

import logging

import pytest
from telegram.error import BadRequest, Conflict, NetworkError, TimedOut

from bot.polling import CONFLICT_ADVICE, PollingWatch, is_polling_error

# PTB's messages for these answers, as the fake Bot API's recorded bodies produce them.
CONFLICT = Conflict(
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
BAD_GATEWAY = NetworkError("Bad Gateway")


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == "bot.polling" and record.levelno >= logging.INFO
    ]


def test_a_conflict_episode_is_one_error_that_says_what_to_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    watch = PollingWatch()

    for _ in range(5):
        watch.failed(CONFLICT)
    watch.succeeded()
    watch.succeeded()

    assert lines(caplog) == [
        ("ERROR", CONFLICT_ADVICE),
        ("INFO", "Fetching updates works again after 5 failed polls (conflict)"),
    ]
    assert "Stop the other instance" in CONFLICT_ADVICE
    assert all(record.exc_info is None for record in caplog.records)
    assert watch.episode is None


def test_each_new_episode_or_kind_of_failure_is_logged_once_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    watch = PollingWatch()

    watch.failed(BAD_GATEWAY)
    watch.failed(BAD_GATEWAY)
    watch.failed(CONFLICT)
    watch.succeeded()
    watch.failed(CONFLICT)

    assert [level for level, _ in lines(caplog)] == ["WARNING", "ERROR", "INFO", "ERROR"]
    assert lines(caplog)[0][1] == (
        "Could not reach Telegram to fetch updates (NetworkError: Bad Gateway); "
        "retrying with back-off"
    )
    assert watch.episode == "conflict"


@pytest.mark.parametrize(
    ("error", "from_polling"),
    [
        (CONFLICT, True),
        (BAD_GATEWAY, True),
        (TimedOut(), False),
        (BadRequest("Chat not found"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_conflicts_and_network_failures_count_as_polling_errors(
    error: Exception, from_polling: bool
) -> None:
    assert is_polling_error(error) == from_polling
