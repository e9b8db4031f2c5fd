"""The runtime: every long-lived client and service, built once at start and closed at the end."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core.analysts import Analyst, BuiltinAnalyst, GeminiAnalyst
from core.importer import Importer
from core.metrics import RuntimeStats
from core.services import NewsService, StatusService, TrendService
from core.settings import Settings
from storage.database import Database, open_database
from storage.repositories import NewsRepository, PriceRepository

logger = logging.getLogger(__name__)


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
    _gemini_client: Any = None

    @classmethod
    async def start(cls, settings: Settings, *, seed: bool = True) -> Runtime:
        """Open the database, create the schema, seed an empty database, build the services.

        Args:
            settings: The settings read at start.
            seed: Whether to import the embedded data set into an empty database.
        """
        database = open_database(settings.resolved_database_url)
        try:
            await database.create_schema()
            importer = Importer(PriceRepository(database), NewsRepository(database))
            if seed:
                await importer.seed_if_empty()
        except BaseException:
            await database.close()
            raise

        stats = RuntimeStats()
        builtin = BuiltinAnalyst()
        analyst: Analyst = builtin
        gemini_client = None
        if settings.gemini_enabled:
            gemini_client = _gemini_client(settings)
            analyst = GeminiAnalyst(
                gemini_client,
                model=settings.gemini_model,
                timeout_seconds=settings.gemini_timeout_seconds,
                max_output_tokens=settings.gemini_max_output_tokens,
            )
        logger.info("Analyst: %s", analyst.name if gemini_client is None else settings.gemini_model)

        return cls(
            settings=settings,
            database=database,
            stats=stats,
            importer=importer,
            trends=TrendService(database, analyst, builtin, stats),
            news=NewsService(database),
            status=StatusService(database, stats, analyst.name),
            _gemini_client=gemini_client,
        )

    async def close(self) -> None:
        """Close the Gemini client and the database engine."""
        if self._gemini_client is not None:
            await self._gemini_client.aio.aclose()
        await self.database.close()


def _gemini_client(settings: Settings) -> Any:
    """Build google-genai's client: the key goes in a header, the SDK's own retries are off.

    The SDK's timeout is in milliseconds. Our own retry policy rules, so the client is built
    without retry options (the SDK then tries each request once).
    """
    from google import genai
    from google.genai import types

    assert settings.gemini_api_key is not None
    http_options = types.HttpOptions(
        base_url=settings.google_gemini_base_url,
        timeout=int(settings.gemini_timeout_seconds * 1000),
    )
    return genai.Client(
        api_key=settings.gemini_api_key.get_secret_value(), http_options=http_options
    )
