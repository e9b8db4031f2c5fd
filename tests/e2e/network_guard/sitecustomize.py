"""Loaded by Python at start-up in the bot process under test: no connection leaves loopback.

The end-to-end fixture puts this folder first on ``PYTHONPATH`` and names a file in
``E2E_NETWORK_GUARD_LOG``. Every name lookup or connection beyond the loopback interface is
then refused before any packet leaves, and written to that file, so the test fails even when
the product catches the refusal and carries on. Without the variable nothing is changed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

_RECORD = os.environ.get("E2E_NETWORK_GUARD_LOG")


def _is_local(host: object) -> bool:
    if not isinstance(host, str):
        return True  # a Unix socket path as bytes, or a socketpair
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> None:
    assert _RECORD is not None
    with open(_RECORD, "a", encoding="utf-8") as record:
        record.write(what + "\n")


def _install() -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_local(name):
            _refuse(f"lookup {name}")
            raise socket.gaierror(f"end-to-end network guard: lookup of {name} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_local(address[0]):
            _refuse(f"connect {address[0]}")
            raise ConnectionRefusedError(
                f"end-to-end network guard: connection to {address[0]} refused"
            )

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]


if _RECORD:
    _install()
