import logging
import time

import httpx
import pytest

from core.errors import BadResponseError, RateLimitedError, TransientError
from core.sources.feeds import FeedResult, fetch_feed, fetch_feeds
from tests.support.scripted_server import NEWS, Scripted, ScriptedServer

RSS = "application/rss+xml; charset=utf-8"
REAL_FEEDS = {
    "coindesk": ("news/coindesk_rss_2026-09-25.xml", 3),
    "cointelegraph": ("news/cointelegraph_rss_2026-09-30.xml", 4),
    "decrypt": ("news/decrypt_rescraped_2026-02-02.xml", 10),
    "bitcoinmagazine": ("news/bitcoinmagazine_rescraped_2026-02-15.xml", 6),
}


def serve_real_feeds(server: ScriptedServer) -> list[tuple[str, str]]:
    for name, (fixture, _) in REAL_FEEDS.items():
        server.script(f"/{name}.xml", Scripted(fixture=fixture, content_type=RSS))
    return [(name, server.url(f"/{name}.xml")) for name in REAL_FEEDS]


async def test_all_four_real_feeds_are_fetched_and_parsed(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    feeds = serve_real_feeds(scripted_server)

    outcome = await fetch_feeds(http_client, feeds, max_bytes=100_000, timeout=5.0)

    assert [result.name for result in outcome.results] == list(REAL_FEEDS)
    assert [
        len(result.parse.headlines) for result in outcome.results if result.parse is not None
    ] == [count for _, count in REAL_FEEDS.values()]
    assert outcome.failures == {}
    assert len(outcome.headlines) == 23
    assert {headline.source for headline in outcome.headlines} == set(REAL_FEEDS)


async def test_a_slow_feed_does_not_hold_the_others(
    scripted_server: ScriptedServer,
    http_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feeds = serve_real_feeds(scripted_server)
    scripted_server.script(
        "/slow.xml",
        Scripted(fixture="news/decrypt_rescraped_2026-02-02.xml", content_type=RSS, delay=30.0),
    )
    feeds.insert(1, ("slow", scripted_server.url("/slow.xml")))
    started = time.monotonic()

    outcome = await fetch_feeds(http_client, feeds, max_bytes=100_000, timeout=0.5)

    elapsed = time.monotonic() - started
    assert elapsed < 3.0
    assert [result.ok for result in outcome.results] == [True, False, True, True, True]
    assert isinstance(outcome.failures["slow"], TransientError)
    assert len(outcome.headlines) == 23
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [f"Feed slow failed: {outcome.failures['slow']}"]


async def test_a_feed_that_trickles_past_its_deadline_times_out(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    # Each chunk comes within the read timeout, but the whole answer takes about 0.5 s:
    # only a deadline over the whole download stops it.
    scripted_server.script(
        "/coindesk.xml",
        Scripted(
            fixture="news/coindesk_rss_2026-09-25.xml",
            content_type=RSS,
            chunked=True,
            chunk_size=1000,
            chunk_delay=0.1,
        ),
    )

    with pytest.raises(TransientError, match=r"no complete answer within 0\.3 s"):
        await fetch_feed(
            http_client, "coindesk", scripted_server.url("/coindesk.xml"), timeout=0.3
        )


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversized_body_is_refused(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient, chunked: bool
) -> None:
    size = len((NEWS / "cointelegraph_rss_2026-09-30.xml").read_bytes())
    scripted_server.script(
        "/cointelegraph.xml",
        Scripted(
            fixture="news/cointelegraph_rss_2026-09-30.xml", content_type=RSS, chunked=chunked
        ),
    )

    with pytest.raises(BadResponseError, match="exceeds 5000") as caught:
        await fetch_feed(
            http_client,
            "cointelegraph",
            scripted_server.url("/cointelegraph.xml"),
            max_bytes=5000,
        )

    assert size > 5000
    assert caught.value.source == "cointelegraph"


async def test_a_body_just_within_the_cap_is_accepted(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    content = (NEWS / "cointelegraph_rss_2026-09-30.xml").read_bytes()
    scripted_server.script(
        "/cointelegraph.xml",
        Scripted(fixture="news/cointelegraph_rss_2026-09-30.xml", content_type=RSS, chunked=True),
    )

    parse = await fetch_feed(
        http_client,
        "cointelegraph",
        scripted_server.url("/cointelegraph.xml"),
        max_bytes=len(content),
    )

    assert len(parse.headlines) == 4


@pytest.mark.parametrize(
    ("scripted", "error", "retry_after"),
    [
        (
            Scripted(status=404, body="not found", content_type="text/plain"),
            BadResponseError,
            None,
        ),
        (Scripted(status=503, body="down", headers={"Retry-After": "30"}), TransientError, 30.0),
        (
            Scripted(status=429, body="slow down", headers={"Retry-After": "120"}),
            RateLimitedError,
            120.0,
        ),
        (
            Scripted(
                body="<!doctype html><html><body>Sorry</body></html>", content_type="text/html"
            ),
            BadResponseError,
            None,
        ),
    ],
)
async def test_http_failures_are_translated(
    scripted_server: ScriptedServer,
    http_client: httpx.AsyncClient,
    scripted: Scripted,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    scripted_server.script("/feed.xml", scripted)

    with pytest.raises(error) as caught:
        await fetch_feed(http_client, "decrypt", scripted_server.url("/feed.xml"), timeout=5.0)

    assert getattr(caught.value, "retry_after", None) == retry_after


async def test_a_redirect_is_followed(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        "/rss", Scripted(status=301, headers={"Location": "/arc/outboundfeeds/rss"})
    )
    scripted_server.script(
        "/arc/outboundfeeds/rss",
        Scripted(fixture="news/coindesk_rss_2026-09-25.xml", content_type=RSS),
    )

    parse = await fetch_feed(http_client, "coindesk", scripted_server.url("/rss"), timeout=5.0)

    assert len(parse.headlines) == 3


async def test_a_refused_connection_is_a_failure_of_that_feed_only(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    closed = ScriptedServer()
    await closed.start()
    closed_url = closed.url("/feed.xml")
    await closed.close()
    scripted_server.script(
        "/decrypt.xml", Scripted(fixture="news/decrypt_rescraped_2026-02-02.xml", content_type=RSS)
    )

    outcome = await fetch_feeds(
        http_client,
        [("gone", closed_url), ("decrypt", scripted_server.url("/decrypt.xml"))],
        timeout=5.0,
    )

    assert outcome.results[1] == FeedResult(
        name="decrypt", parse=outcome.results[1].parse, error=None
    )
    assert isinstance(outcome.failures["gone"], TransientError)
    assert len(outcome.headlines) == 10


async def test_the_same_story_from_two_feeds_is_one_headline(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        "/a.xml", Scripted(fixture="news/cointelegraph_rss_2026-09-30.xml", content_type=RSS)
    )
    scripted_server.script(
        "/b.xml", Scripted(fixture="news/cointelegraph_rss_2026-09-30.xml", content_type=RSS)
    )

    outcome = await fetch_feeds(
        http_client,
        [("first", scripted_server.url("/a.xml")), ("second", scripted_server.url("/b.xml"))],
        timeout=5.0,
    )

    assert len(outcome.headlines) == 4
    assert {headline.source for headline in outcome.headlines} == {"first"}


async def test_the_feed_request_asks_for_feeds(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        "/decrypt.xml", Scripted(fixture="news/decrypt_rescraped_2026-02-02.xml", content_type=RSS)
    )

    await fetch_feed(http_client, "decrypt", scripted_server.url("/decrypt.xml"), timeout=5.0)

    accept = scripted_server.requests_to("/decrypt.xml")[0].headers["Accept"]
    assert accept.startswith("application/rss+xml")
