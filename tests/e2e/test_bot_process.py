"""The end-to-end harness itself: every address on loopback, and a guard in the child."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from tests.e2e.bot_process import ADDRESS_SETTINGS, bot_environment, check_loopback_only

LOCAL = "http://127.0.0.1:9/"


def loopback_settings() -> dict[str, str]:
    return {name: LOCAL for name in ADDRESS_SETTINGS} | {"NEWS_FEEDS": f"local={LOCAL}feed"}


def test_every_address_setting_must_be_pointed_at_loopback() -> None:
    assert set(ADDRESS_SETTINGS) >= {
        "TELEGRAM_API_BASE_URL",
        "TELEGRAM_FILE_BASE_URL",
        "GOOGLE_GEMINI_BASE_URL",
        "BINANCE_BASE_URL",
        "KRAKEN_BASE_URL",
        "COINBASE_BASE_URL",
        "COINGECKO_BASE_URL",
    }
    check_loopback_only(loopback_settings())

    for name in ADDRESS_SETTINGS:
        missing = loopback_settings()
        del missing[name]
        with pytest.raises(ValueError, match=name):
            check_loopback_only(missing)
    with pytest.raises(ValueError, match="NEWS_FEEDS"):
        check_loopback_only(
            loopback_settings() | {"NEWS_FEEDS": "x=https://cointelegraph.com/rss"}
        )
    with pytest.raises(ValueError, match="KRAKEN_BASE_URL"):
        check_loopback_only(loopback_settings() | {"KRAKEN_BASE_URL": "https://api.kraken.com"})


def test_the_child_environment_drops_the_developers_settings_and_proxies(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone:secret@db.example/prod")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("GOOGLE_API_KEY", "developer-key")

    environment = bot_environment(settings=loopback_settings(), guard_record=tmp_path / "g")

    assert "DATABASE_URL" not in environment
    assert "HTTPS_PROXY" not in environment
    assert "GOOGLE_API_KEY" not in environment
    assert environment["NO_PROXY"] == "127.0.0.1,localhost"


@pytest.mark.asyncio(loop_scope="package")
async def test_the_guard_in_the_child_refuses_and_records_what_leaves_loopback(tmp_path) -> None:
    record = tmp_path / "guard.txt"
    environment = bot_environment(settings=loopback_settings(), guard_record=record)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # 192.0.2.0/24 is a documentation range: the guard stops the attempt before any packet.
        script = (
            "import socket\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
            "for attempt in (lambda: socket.getaddrinfo('api.telegram.org', 443),\n"
            "                lambda: socket.socket().connect(('192.0.2.10', 443))):\n"
            "    try:\n"
            "        attempt()\n"
            "    except OSError as error:\n"
            "        print(type(error).__name__)\n"
        )
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, env=environment, stdout=asyncio.subprocess.PIPE
        )
        output, _ = await asyncio.wait_for(child.communicate(), 20)

    assert child.returncode == 0
    assert output.decode().split() == ["gaierror", "ConnectionRefusedError"]
    assert record.read_text().splitlines() == ["lookup api.telegram.org", "connect 192.0.2.10"]
