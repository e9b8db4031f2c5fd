"""Fixtures for the emulator tests: a connection to any host but 127.0.0.1 fails the test."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return isinstance(address, str | bytes)  # a Unix socket path
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse, and record, every connection or name lookup aimed beyond the loopback address."""
    refused: list[str] = []
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            refused.append(f"connect {address!r}")
            raise ConnectionRefusedError(f"test network guard: {address!r} is not loopback")
        original_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            refused.append(f"connect_ex {address!r}")
            raise ConnectionRefusedError(f"test network guard: {address!r} is not loopback")
        return original_connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost", b"localhost") and not _is_loopback((host,)):
            refused.append(f"getaddrinfo {host!r}")
            raise socket.gaierror(f"test network guard: {host!r} is not loopback")
        return original_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield refused
    assert refused == [], f"the test tried to leave 127.0.0.1: {refused}"
