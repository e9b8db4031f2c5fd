"""The health of long polling: one log line per episode of getUpdates failures, not one a poll.

python-telegram-bot retries a failed ``getUpdates`` for ever, waiting 1 s, then 1.5 times
longer each time up to 30 s, and hands each failure to the application's error handlers with
no update attached. Left alone, that is a traceback on every poll while, say, a second copy of
the bot runs with the same token. :class:`PollingWatch` turns each kind of failure into one
line when it starts (an ERROR that says what to do for a 409 Conflict, a WARNING for a
network failure) and one INFO line when a poll succeeds again; :class:`PollingRequest` is the
``getUpdates`` connection that tells it about that success.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telegram.error import BadRequest, Conflict, NetworkError, TelegramError, TimedOut
from telegram.request import HTTPXRequest, RequestData

logger = logging.getLogger(__name__)

CONFLICT_ADVICE = (
    "Telegram refused to deliver updates (409 Conflict): another process is polling with "
    "this bot token, or a webhook is set for it. Stop the other instance (or delete the "
    "webhook); this one keeps retrying and carries on by itself once it is alone."
)


class PollingWatch:
    """Logs getUpdates failures once per episode; an episode ends with the next good poll.

    Attributes:
        episode: The kind of failure going on (``conflict``, ``network``, ``telegram``), or
            None while polling works.
        failures: How many polls failed in the current episode.
    """

    def __init__(self) -> None:
        self.episode: str | None = None
        self.failures = 0

    def failed(self, error: TelegramError) -> None:
        """Note one failed poll; log only when it starts a new episode (or a new kind)."""
        kind = _kind_of(error)
        self.failures += 1
        if kind == self.episode:
            logger.debug("getUpdates failed again (%s, %d in a row)", kind, self.failures)
            return

        self.episode = kind
        self.failures = 1
        if kind == "conflict":
            logger.error(CONFLICT_ADVICE)
        elif kind == "network":
            logger.warning(
                "Could not reach Telegram to fetch updates (%s: %s); retrying with back-off",
                type(error).__name__,
                error.message,
            )
        else:
            logger.error(
                "Telegram refused to deliver updates (%s: %s); retrying with back-off",
                type(error).__name__,
                error.message,
            )

    def succeeded(self) -> None:
        """Note a good poll; it ends the current episode, if any, with one INFO line."""
        if self.episode is None:
            return

        logger.info(
            "Fetching updates works again after %d failed polls (%s)", self.failures, self.episode
        )
        self.episode = None
        self.failures = 0


def is_polling_error(error: object) -> bool:
    """Whether an error handed to the error handlers without an update comes from polling.

    Only ``getUpdates`` is answered 409, and network failures without an update or a job
    behind them come from the polling loop. PTB makes ``BadRequest`` and ``TimedOut``
    network errors too; neither counts (PTB retries a timed-out poll at once, silently).
    """
    if isinstance(error, Conflict):
        return True
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest | TimedOut)


def _kind_of(error: TelegramError) -> str:
    if isinstance(error, Conflict):
        return "conflict"
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        return "network"
    return "telegram"


class PollingRequest(HTTPXRequest):
    """PTB's HTTP connection for ``getUpdates``, calling ``on_success`` after each good answer.

    Args:
        on_success: Called with no argument when Telegram answered a poll with a 2xx status.
        kwargs: Passed to :class:`telegram.request.HTTPXRequest` (timeouts, pool size).
    """

    def __init__(self, *, on_success: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_success = on_success

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send the request as PTB does, then report a successful status."""
        status, payload = await super().do_request(
            url,
            method,
            request_data=request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if 200 <= status < 300:
            self._on_success()
        return status, payload
