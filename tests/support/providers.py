"""A provider pool whose CoinGecko, Binance and Kraken all answer from one scripted server."""

from __future__ import annotations

import httpx

from core.sources.pool import PoolSettings, ProviderPool
from core.sources.prices import BinanceProvider, CoinGeckoProvider, KrakenProvider
from tests.support.clock import FakeClock
from tests.support.scripted_server import ScriptedServer


def make_pool(
    client: httpx.AsyncClient,
    server: ScriptedServer,
    clock: FakeClock,
    order: list[str] | None = None,
    settings: PoolSettings | None = None,
) -> ProviderPool:
    """The pool, asking in ``order`` (CoinGecko, Binance, Kraken when None), on a fake clock."""
    providers = [
        CoinGeckoProvider(client, server.base_url, clock=clock, timeout=2.0),
        BinanceProvider(client, server.base_url, clock=clock, timeout=2.0),
        KrakenProvider(client, server.base_url, clock=clock, timeout=2.0),
    ]
    return ProviderPool(providers, order=order, settings=settings, clock=clock, sleep=clock.sleep)
