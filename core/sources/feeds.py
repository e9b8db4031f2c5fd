"""News feeds fetched over HTTP: one at a time with a size cap, or all at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from core.errors import BadResponseError, RateLimitedError, SourceError, TransientError
from core.headlines import FeedParse, Headline, parse_feed
from core.sources.retry_after import parse_retry_after

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
"""The largest feed body accepted; real feeds of 25 items are well under 200 KB."""

DEFAULT_TIMEOUT = 15.0
"""Seconds allowed for a whole feed download, from connecting to the last byte."""

RATE_LIMIT_DEFAULT_WAIT = 300.0
"""Seconds a feed that answered 429 without ``Retry-After`` asks us to wait, by our guess."""

_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8"


@dataclass(frozen=True, slots=True)
class FeedResult:
    """How one feed went: its parse on success, its error on failure.

    Attributes:
        name: The feed's short name.
        parse: What the feed gave, when it succeeded.
        error: Why it failed, when it did.
    """

    name: str
    parse: FeedParse | None = None
    error: SourceError | None = None

    @property
    def ok(self) -> bool:
        """True when the feed gave headlines."""
        return self.parse is not None


@dataclass(frozen=True, slots=True)
class FeedsOutcome:
    """What a round over every feed gave, feed by feed in the order asked.

    Attributes:
        results: One result per feed.
    """

    results: list[FeedResult] = field(default_factory=list)

    @property
    def headlines(self) -> list[Headline]:
        """Every headline from the feeds that succeeded, each key once, first feed first."""
        seen: set[str] = set()
        headlines = []
        for result in self.results:
            if result.parse is None:
                continue
            for headline in result.parse.headlines:
                if headline.key not in seen:
                    seen.add(headline.key)
                    headlines.append(headline)
        return headlines

    @property
    def failures(self) -> dict[str, SourceError]:
        """The error of each feed that failed, by name."""
        return {result.name: result.error for result in self.results if result.error}


async def fetch_feed(
    client: httpx.AsyncClient,
    name: str,
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    # A parameter rather than the caller's asyncio.timeout, so that fetch_feeds can give
    # each feed its own deadline and every caller gets one by default.
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
) -> FeedParse:
    """Download one feed, refusing a body over ``max_bytes``, and parse it.

    Args:
        client: The shared HTTP client; never closed here.
        name: The feed's short name, used on headlines and errors.
        url: The feed's address; redirects are followed.
        max_bytes: The largest body accepted, counted after decompression.
        timeout: Seconds allowed for the whole download.

    Raises:
        RateLimitedError: On HTTP 429.
        TransientError: On a 5xx, a timeout or a broken connection.
        BadResponseError: On another 4xx, a body too large, or a body with no usable entry.
    """
    try:
        async with asyncio.timeout(timeout):
            content = await _download(client, name, url, max_bytes, timeout)
    except TimeoutError as error:
        raise TransientError(name, f"no complete answer within {timeout:g} s") from error

    return await asyncio.to_thread(parse_feed, content, name)


async def _download(
    client: httpx.AsyncClient, name: str, url: str, max_bytes: int, time_limit: float
) -> bytes:
    """Stream the body, translating HTTP failures and stopping past ``max_bytes``."""
    try:
        async with client.stream(
            "GET", url, headers={"Accept": _ACCEPT}, timeout=time_limit, follow_redirects=True
        ) as response:
            _raise_for_status(response, name)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise BadResponseError(name, f"body of {declared} bytes exceeds {max_bytes}")

            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise BadResponseError(name, f"body exceeds {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException as error:
        raise TransientError(name, f"timed out: {type(error).__name__}") from error
    except httpx.HTTPError as error:
        raise TransientError(name, f"request failed: {error!r}") from error


def _raise_for_status(response: httpx.Response, name: str) -> None:
    """Raise the error an HTTP status means; return quietly on a success status."""
    status = response.status_code
    if status < 400:
        return

    told = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    detail = f"HTTP {status}"
    if status == 429:
        wait = told if told is not None else RATE_LIMIT_DEFAULT_WAIT
        raise RateLimitedError(name, detail, retry_after=wait)
    if status >= 500:
        raise TransientError(name, detail, retry_after=told)
    raise BadResponseError(name, detail)


async def fetch_feeds(
    client: httpx.AsyncClient,
    feeds: Sequence[tuple[str, str]],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per feed, see fetch_feed
) -> FeedsOutcome:
    """Download and parse every feed at once; a slow or broken feed holds no other.

    Args:
        client: The shared HTTP client; never closed here.
        feeds: ``(name, url)`` pairs.
        max_bytes: The largest body accepted from each feed.
        timeout: Seconds allowed for each feed.

    Returns:
        One result per feed, in the order given.
    """
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(_fetch_one(client, name, url, max_bytes, timeout))
            for name, url in feeds
        ]
    outcome = FeedsOutcome(results=[task.result() for task in tasks])

    logger.info(
        "Fetched %d of %d feeds, %d headlines",
        sum(result.ok for result in outcome.results),
        len(feeds),
        len(outcome.headlines),
    )
    return outcome


async def _fetch_one(
    client: httpx.AsyncClient, name: str, url: str, max_bytes: int, time_limit: float
) -> FeedResult:
    """Fetch one feed, turning its failure into a result."""
    try:
        parse = await fetch_feed(client, name, url, max_bytes=max_bytes, timeout=time_limit)
    except SourceError as error:
        logger.warning("Feed %s failed: %s", name, error)
        return FeedResult(name=name, error=error)
    return FeedResult(name=name, parse=parse)
