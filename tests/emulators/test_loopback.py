"""The loopback plumbing under both emulators: 127.0.0.1 only, quick to stop, guarded tests."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from telegram import Bot

from tests.emulators.loopback import ControlClient
from tests.emulators.telegram import FakeTelegram


async def test_an_emulator_listens_on_loopback_only() -> None:
    async with FakeTelegram() as telegram:
        assert telegram.url == f"http://127.0.0.1:{telegram.port}"
        with socket.create_connection(("127.0.0.1", telegram.port), timeout=1):
            pass


async def test_stopping_answers_a_waiting_long_poll_at_once() -> None:
    telegram = await FakeTelegram().start()
    bot = Bot("1:stop_test_token", base_url=telegram.base_url)
    await bot.initialize()
    poll = asyncio.create_task(bot.get_updates(timeout=20, read_timeout=5))
    await asyncio.sleep(0.2)
    started = time.monotonic()

    await telegram.stop()

    assert await poll == ()
    assert time.monotonic() - started < 2.0
    await bot.shutdown()


def test_a_control_client_only_talks_to_loopback() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        ControlClient("http://192.0.2.10:8080")
