"""The errors Bitcoin Analyzer raises, each outside failure translated at its boundary.

Every third-party exception (HTTP, RSS, LLM, database) is caught where it enters and raised
again as one of these, chained with ``from`` so the original stays in the traceback::

    BitcoinAnalyzerError
    ├── ConfigError            a setting is missing or invalid
    ├── InputError             a user's argument cannot be understood
    ├── NoDataError            the database holds too little data to answer
    ├── SourceError            a price provider or a feed failed
    │   ├── RateLimitedError   told to wait (HTTP 429, Retry-After, a rate-limit body)
    │   ├── BannedError        refused for a while (IP ban) or for good (restricted place)
    │   ├── TransientError     5xx, timeouts and broken connections: worth a retry
    │   └── BadResponseError   an answer we cannot use: malformed, wrong pair, other 4xx
    ├── AnalystError           the language model gave no usable answer
    └── StorageError           the database could not be reached or refused a statement
"""

from __future__ import annotations

from collections.abc import Mapping


class BitcoinAnalyzerError(Exception):
    """The root of every error this project raises on purpose."""


class ConfigError(BitcoinAnalyzerError):
    """A setting is missing or holds a value we cannot use."""


class InputError(BitcoinAnalyzerError):
    """A user's argument, or a file given to the importer, cannot be understood.

    Attributes:
        code: A short, stable word the caller turns into a translated message
            (``window_format``, ``window_unit``...); ``input`` when none was given.
        params: Values the translated message may show, such as the offending ``text``
            already cut to a safe length.
    """

    def __init__(
        self,
        message: str = "",
        *,
        code: str = "input",
        params: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message or code)
        self.code = code
        self.params: dict[str, object] = dict(params or {})


class NoDataError(BitcoinAnalyzerError):
    """The database holds too few points to answer the question asked."""


class SourceError(BitcoinAnalyzerError):
    """A price provider or a news feed failed.

    Attributes:
        source: The provider or feed name, as shown in logs and /status.
        retry_after: Seconds the source asked us to wait, when it said so.
    """

    def __init__(self, source: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.retry_after = retry_after


class RateLimitedError(SourceError):
    """The source said we call it too often and must wait ``retry_after`` seconds."""


class BannedError(SourceError):
    """The source refuses us for a while (an IP ban) or for good (a restricted location)."""


class TransientError(SourceError):
    """A failure that may pass: a 5xx, a timeout, a dropped connection."""


class BadResponseError(SourceError):
    """An answer we cannot use: a malformed body, an unknown pair, another 4xx."""


class AnalystError(BitcoinAnalyzerError):
    """The language model gave no usable answer.

    Attributes:
        reason: A short, stable word for logs and counters (``timeout``, ``blocked``,
            ``rate_limited``, ``api_error``, ``empty``, ``rejected``...).
        detail: More about the reason, for logs; never the model's text. For ``rejected``
            it starts with the stable name of the failed check (``direction``...).
        retry_after: Seconds the service asked us to wait, when it said so.
        tokens_in: Tokens the refused answer still cost (prompt), when it came at all.
        tokens_out: Tokens the refused answer still cost (answer).
    """

    def __init__(
        self,
        reason: str,
        detail: str = "",
        retry_after: float | None = None,
        *,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out


class StorageError(BitcoinAnalyzerError):
    """The database could not be reached, or refused a statement."""
