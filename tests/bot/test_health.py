"""The operator's listener: /healthz and /metrics over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.health import HealthServer
from core.runtime import Runtime
from core.settings import Settings


@pytest.fixture
async def runtime(seeded_settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await Runtime.start(seeded_settings)
    yield runtime
    await runtime.close()


async def serve(runtime: Runtime, receiving: list[bool]) -> HealthServer:
    server = HealthServer(runtime, lambda: receiving[0], "127.0.0.1", 0)
    await server.start()
    return server


async def test_healthz_is_200_when_receiving_and_the_database_answers(runtime: Runtime) -> None:
    receiving = [True]
    server = await serve(runtime, receiving)
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            healthy = await client.get(f"http://127.0.0.1:{server.port}/healthz")
            receiving[0] = False
            stalled = await client.get(f"http://127.0.0.1:{server.port}/healthz")
    finally:
        await server.stop()

    assert (healthy.status_code, healthy.json()) == (200, {"status": "ok"})
    assert stalled.status_code == 503
    assert stalled.json()["problems"] == ["not receiving updates"]


async def test_metrics_show_updates_latency_gemini_and_data_age(runtime: Runtime) -> None:
    runtime.stats.record_update("trend", "ok", 12.0)
    runtime.stats.llm_failures["timeout"] += 2
    runtime.stats.ingested_rows["kraken"] += 28
    server = await serve(runtime, [True])
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        await server.stop()

    body = response.text
    assert response.status_code == 200
    assert 'bitcoin_analyzer_updates_total{command="trend",outcome="ok"} 1.0' in body
    assert 'bitcoin_analyzer_handler_latency_seconds_count{command="trend"} 1.0' in body
    assert 'bitcoin_analyzer_gemini_failures_total{reason="timeout"} 2.0' in body
    assert 'bitcoin_analyzer_ingested_rows_total{source="kraken"} 28.0' in body
    assert 'bitcoin_analyzer_data_age_seconds{kind="candle"}' in body
