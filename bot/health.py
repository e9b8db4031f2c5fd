"""The operator's HTTP listener: ``/healthz`` for probes and ``/metrics`` for Prometheus.

It is off unless METRICS_PORT is set, and binds to 127.0.0.1 unless METRICS_HOST says
otherwise, since the numbers are for the operator and not for the world.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.runtime import Runtime

logger = logging.getLogger(__name__)

# A probe must answer fast: a database slower than this counts as down.
DATABASE_CHECK_SECONDS = 2.0


class HealthServer:
    """Serves ``/healthz`` (200 or 503 with the reason) and ``/metrics``.

    Args:
        runtime: The running services.
        is_receiving: Tells whether updates still arrive (polling or the webhook is alive).
        host: The address to bind.
        port: The port to bind; 0 picks a free one (tests).
    """

    def __init__(
        self, runtime: Runtime, is_receiving: Callable[[], bool], host: str, port: int
    ) -> None:
        self._runtime = runtime
        self._is_receiving = is_receiving
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port actually bound."""
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        """Bind and serve in the running event loop."""
        application = web.Application()
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        logger.info("Health and metrics on http://%s:%d", self._host, self.port)

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        problems = []
        if not self._is_receiving():
            problems.append("not receiving updates")
        if not await self._database_answers():
            problems.append("database not answering")

        if problems:
            return web.json_response({"status": "unhealthy", "problems": problems}, status=503)
        return web.json_response({"status": "ok"})

    async def _metrics(self, _request: web.Request) -> web.Response:
        await self._refresh_data_age()
        body = generate_latest(self._runtime.stats.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(DATABASE_CHECK_SECONDS):
                async with self._runtime.database.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except (TimeoutError, SQLAlchemyError, OSError) as error:
            logger.warning("Health check: database not answering (%s)", type(error).__name__)
            return False
        return True

    async def _refresh_data_age(self) -> None:
        """Put the age of the newest candle and headline in the stats before a scrape."""
        try:
            report = await self._runtime.status.status()
        except SQLAlchemyError:
            return
        for kind, newest in (
            ("candle", report.newest_candle_at),
            ("headline", report.newest_headline_at),
        ):
            if newest is not None:
                age = (report.now - newest).total_seconds()
                self._runtime.stats.data_age_seconds[kind] = max(age, 0.0)
