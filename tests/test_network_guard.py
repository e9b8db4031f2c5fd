"""The guard every test runs under: nothing leaves the loopback interface."""

from __future__ import annotations

import socket

import httpx
import pytest


async def test_connections_and_lookups_beyond_loopback_are_refused_and_recorded(
    no_outside_network: list[str],
) -> None:
    # 192.0.2.0/24 and 203.0.113.0/24 are documentation addresses: the guard stops the
    # attempt before any packet leaves, so a product left on a real URL fails its test.
    with socket.socket() as raw, pytest.raises(ConnectionRefusedError):
        raw.connect(("192.0.2.10", 443))
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("api.telegram.org", 443)
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://203.0.113.7/api/v3/klines", timeout=2.0)

    assert no_outside_network == [
        "connect 192.0.2.10",
        "lookup api.telegram.org",
        "connect 203.0.113.7",
    ]
    no_outside_network.clear()  # recorded as intended; the teardown check stays meaningful
