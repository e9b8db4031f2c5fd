"""The runtime: every long-lived client and service, built once at start and closed at the end."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from core.analysts import Analyst, BuiltinAnalyst, GeminiAnalyst, build_gemini_client
from core.charts import ChartService
from core.digest import DigestService
from core.importer import Importer
from core.ingestion import NewsIngestor, PriceIngestor, SourceReport
from core.leases import JobLeases
from core.limits import PerUserLimiter
from core.metrics import RuntimeStats
from core.resilience import CircuitBreaker, GuardedAnalyst
from core.schedules import DailySchedule
from core.services import NewsService, StatusService, TrendService, utc_now
from core.settings import Settings
from core.sources.pool import ProviderPool
from core.sources.prices import (
    BinanceProvider,
    CoinbaseProvider,
    CoinGeckoProvider,
    KrakenProvider,
    PriceProvider,
)
from storage.database import Database, open_database
from storage.repositories import NewsRepository, PriceRepository

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SEED_LEASE = timedelta(minutes=2)


@dataclass
class Runtime:
    """The objects an adapter needs, sharing one database engine and one set of counters."""

    settings: Settings
    database: Database
    stats: RuntimeStats
    importer: Importer
    trends: TrendService
    news: NewsService
    status: StatusService
    http: httpx.AsyncClient
    pool: ProviderPool
    price_ingestor: PriceIngestor
    news_ingestor: NewsIngestor
    trend_limiter: PerUserLimiter
    leases: JobLeases
    charts: ChartService
    digest: DigestService
    _gemini_client: Any = None

    @classmethod
    async def start(
        cls, settings: Settings, *, seed: bool = True, clock: Clock = utc_now
    ) -> Runtime:
        """Open the database, migrate or check its schema, seed it if empty, build the services.

        Args:
            settings: The settings read at start.
            seed: Whether to import the embedded data set into an empty database.
            clock: The present time; tests move it by hand.
        """
        database = open_database(settings.resolved_database_url)
        try:
            if settings.auto_migrate:
                await database.migrate()
            else:
                await database.check_schema()
            importer = Importer(PriceRepository(database), NewsRepository(database))
            leases = JobLeases(database, clock=clock)
            if seed:
                # Replicas starting together on an empty database: one of them seeds it.
                async with leases.hold("seed", SEED_LEASE) as held:
                    if held:
                        await importer.seed_if_empty()
        except BaseException:
            await database.close()
            raise

        stats = RuntimeStats(started_at=clock())
        builtin = BuiltinAnalyst()
        analyst: Analyst = builtin
        analyst_label = builtin.name
        circuit: CircuitBreaker | None = None
        gemini_client = None
        if settings.gemini_enabled and settings.gemini_api_key is not None:
            gemini_client = build_gemini_client(
                settings.gemini_api_key.get_secret_value(),
                timeout_s=settings.gemini_timeout_seconds,
                base_url=settings.google_gemini_base_url,
            )
            guarded = GuardedAnalyst(
                GeminiAnalyst(
                    gemini_client,
                    settings.gemini_model,
                    timeout_s=settings.gemini_timeout_seconds,
                    max_output_tokens=settings.gemini_max_output_tokens,
                ),
                stats,
                clock,
                retries=settings.gemini_retries,
            )
            analyst, circuit = guarded, guarded.circuit
            analyst_label = f"gemini:{settings.gemini_model}"
        logger.info("Analyst: %s", analyst_label)

        http = _http_client(settings)
        pool = ProviderPool(
            _price_providers(settings, http, clock), order=settings.price_providers, clock=clock
        )
        trends = TrendService(
            database,
            analyst,
            builtin,
            stats,
            analyst_label,
            clock,
            deadline_seconds=settings.trend_deadline_seconds,
        )
        news = NewsService(database)
        charts = ChartService(database)
        digest = DigestService(
            database,
            trends,
            news,
            charts,
            DailySchedule(settings.digest_time, settings.digest_zone),
            clock,
            channel=settings.digest_chat_id,
            channel_language=settings.default_language,
            stats=stats,
        )
        return cls(
            settings=settings,
            database=database,
            stats=stats,
            importer=importer,
            trends=trends,
            news=news,
            status=StatusService(
                database,
                stats,
                analyst_label,
                clock,
                circuit,
                stale_after=timedelta(minutes=settings.stale_after_minutes),
                digest_status=digest.status if settings.digest_enabled else None,
            ),
            http=http,
            pool=pool,
            price_ingestor=PriceIngestor(pool, database, clock),
            news_ingestor=NewsIngestor(
                http,
                settings.news_feeds,
                database,
                clock,
                max_bytes=settings.feed_max_bytes,
                timeout_seconds=settings.http_timeout_seconds,
            ),
            trend_limiter=PerUserLimiter(
                settings.trend_limit_calls, settings.trend_limit_period_seconds
            ),
            leases=leases,
            charts=charts,
            digest=digest,
            _gemini_client=gemini_client,
        )

    async def ingest_prices(self) -> list[SourceReport]:
        """One price pass; when candles were stored, refresh the common analyses.

        A pass that only moved the open candle changes the newest close, and so the cache
        key: the refresh writes the new analyses before a user asks for them.
        """
        reports = await self.price_ingestor.run()
        self._count(reports)
        if any(report.stored for report in reports):
            await self.trends.refresh()
        return reports

    async def ingest_news(self) -> list[SourceReport]:
        """One news pass over every feed."""
        reports = await self.news_ingestor.run()
        self._count(reports)
        return reports

    def _count(self, reports: list[SourceReport]) -> None:
        for report in reports:
            source = report.name.split(" (", 1)[0]
            if report.error:
                self.stats.ingestion_errors[source] += 1
            else:
                self.stats.ingested_rows[source] += report.new

    async def close(self) -> None:
        """Close the HTTP and Gemini clients and the database engine."""
        await self.http.aclose()
        if self._gemini_client is not None:
            await self._gemini_client.aio.aclose()
        await self.database.close()


def _http_client(settings: Settings) -> httpx.AsyncClient:
    """The one HTTP client of the price providers and the feeds, with every timeout set."""
    timeout = settings.http_timeout_seconds
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={"User-Agent": "bitcoin-analyzer/0.1"},
        follow_redirects=True,
    )


def _price_providers(
    settings: Settings, http: httpx.AsyncClient, clock: Clock
) -> list[PriceProvider]:
    """Every known provider at its configured address; the pool keeps those in the order."""
    timeout = settings.http_timeout_seconds
    coingecko_key = settings.coingecko_api_key
    return [
        BinanceProvider(http, settings.binance_base_url, timeout=timeout, clock=clock),
        KrakenProvider(http, settings.kraken_base_url, timeout=timeout, clock=clock),
        CoinbaseProvider(http, settings.coinbase_base_url, timeout=timeout, clock=clock),
        CoinGeckoProvider(
            http,
            settings.coingecko_base_url,
            api_key=coingecko_key.get_secret_value() if coingecko_key else None,
            timeout=timeout,
            clock=clock,
        ),
    ]
