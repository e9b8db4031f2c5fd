"""Real candles from the embedded data set, loaded once for the core tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from core.candles import Candle, Interval
from tests.core.real_candles import load_candles


@pytest.fixture(scope="session")
def hourly_candles() -> list[Candle]:
    """CryptoCompare hourly candles, 2025-05-12 12:00Z to 2025-11-22 23:00Z."""
    return load_candles("btc_usd_hourly_cryptocompare.csv", Interval.HOUR, "cryptocompare")


@pytest.fixture(scope="session")
def bitstamp_daily_candles() -> list[Candle]:
    """Bitstamp daily candles, 2014-11-28 to 2025-07-04."""
    return load_candles("btc_usd_daily_bitstamp.csv", Interval.DAY, "bitstamp")


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class UnplannedNetworkCall(AssertionError):
    """A test tried to reach a host other than this machine."""


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any test whose code looks up or connects to anything but this machine."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            raise UnplannedNetworkCall(f"unplanned network call to {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return original_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and host not in LOOPBACK:
            raise UnplannedNetworkCall(f"unplanned name lookup of {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield
