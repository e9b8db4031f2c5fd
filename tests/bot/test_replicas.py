"""Two bot processes on one PostgreSQL database, in webhook mode against the fake Bot API.

Each replica answers the updates posted to its own webhook listener; each scheduled job runs
on one replica only, and when that replica is killed in the middle of a run, the other one
takes the job over once the lease has expired.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.emulators.telegram import FakeTelegram
from tests.support.scripted_server import Scripted, ScriptedServer

pytestmark = pytest.mark.postgresql

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:test-token-not-a-real-one"
SECRET = "replica-test-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
KRAKEN_PATH = "/0/public/OHLC"
KRAKEN_OHLC = "api/exchanges/kraken_ohlc_xbtusd_1h_trimmed.json"
FEED_PATH = "/coindesk.xml"
FEED = "news/coindesk_rss_2026-09-25.xml"
# Short on purpose: a 1.5 s lease renewed every 0.5 s, jobs due every 3 s.
LEASE_SECONDS = 1.5
JOB_MINUTES = 0.05
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Replica:
    """One ``bitcoin-analyzer run`` process and the log it writes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_replica(
    name: str, folder: Path, database_url: str, fake: FakeTelegram, server: ScriptedServer
) -> Replica:
    folder.mkdir()
    port = free_port()
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(PROJECT_ROOT),
        "HOME": str(folder),
        "TZ": "UTC",
        "DATA_DIR": str(folder / "data"),
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
        # Only handed to the fake Bot API, which records it; nothing connects to it.
        "WEBHOOK_URL": "https://127.0.0.1:8443/telegram",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "PRICE_PROVIDERS": "kraken",
        "BINANCE_BASE_URL": server.base_url,
        "KRAKEN_BASE_URL": server.base_url,
        "COINBASE_BASE_URL": server.base_url,
        "COINGECKO_BASE_URL": server.base_url,
        "NEWS_FEEDS": f"coindesk={server.url(FEED_PATH)}",
        "HTTP_TIMEOUT_SECONDS": "90",
        "PRICE_INGEST_MINUTES": str(JOB_MINUTES),
        "NEWS_INGEST_MINUTES": str(JOB_MINUTES),
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "LOG_LEVEL": "INFO",
    }
    log_path = folder / "replica.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=folder,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, process, log_path, port)


async def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` while the event loop keeps serving the fakes."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.05)


async def post_update(replica: Replica, update: dict[str, object], secret: str | None) -> int:
    headers = {SECRET_HEADER: secret} if secret else {}
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        response = await client.post(
            f"http://127.0.0.1:{replica.port}/telegram", json=update, headers=headers
        )
    return response.status_code


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as telegram:
        yield telegram


@pytest.fixture
async def replicas(
    tmp_path: Path,
    blank_postgres_url: str,
    fake: FakeTelegram,
    scripted_server: ScriptedServer,
) -> AsyncIterator[list[Replica]]:
    """Two replicas started together on a database with no table yet."""
    # The first price request hangs, so that its replica is still mid-run when killed.
    scripted_server.script(
        KRAKEN_PATH,
        Scripted(fixture=KRAKEN_OHLC, delay=120),
        Scripted(fixture=KRAKEN_OHLC, repeat=True),
    )
    scripted_server.script(
        FEED_PATH, Scripted(fixture=FEED, content_type="application/rss+xml", repeat=True)
    )
    started = [
        start_replica(name, tmp_path / name, blank_postgres_url, fake, scripted_server)
        for name in ("a", "b")
    ]
    try:
        await wait_until(
            lambda: (
                all(" ready" in replica.log() for replica in started)
                or any(replica.process.poll() is not None for replica in started)
            ),
            START_TIMEOUT,
            "both replicas to be ready",
        )
        for replica in started:
            assert replica.process.poll() is None, f"replica {replica.name} died:\n{replica.log()}"
        yield started
    finally:
        for replica in started:
            replica.stop()


def runs(log: str, job: str) -> int:
    """How many runs of ``job`` a replica's log says it finished."""
    return log.count(f"job={job} stored=")


def took_over(log: str, job: str) -> bool:
    return f"job={job} runs on this replica" in log


async def test_two_replicas_share_updates_and_each_job_runs_on_one_of_them(
    replicas: list[Replica], fake: FakeTelegram, scripted_server: ScriptedServer
) -> None:
    first, second = replicas

    # Both set the same webhook, with the secret; each answers what reaches it.
    assert [call.params["secret_token"] for call in fake.calls("setWebhook")] == [SECRET] * 2
    to_first = fake.inject_command("/news 1", chat_id=1001, user_id=1001)
    to_second = fake.inject_command("/trend 7d", chat_id=1002, user_id=1002)
    assert await post_update(first, to_first, SECRET) == 200
    assert await post_update(second, to_second, SECRET) == 200
    assert await post_update(second, to_second, "not-the-secret") == 403
    [news] = await fake.wait_for_sent(1, timeout=20, chat_id=1001)
    [trend] = await fake.wait_for_sent(1, timeout=20, chat_id=1002)
    assert news.text is not None and '<a href="' in news.text
    assert trend.text is not None and trend.text.startswith("<b>BTC over 7d</b>")

    # One replica took the price job and hangs in its first request; its lease, renewed,
    # keeps the other out across several of its 3 s ticks and several lease times.
    await wait_until(
        lambda: len(scripted_server.requests_to(KRAKEN_PATH)) == 1,
        20,
        "the first price request",
    )
    [leader] = [replica for replica in replicas if took_over(replica.log(), "ingest-prices")]
    [survivor] = [replica for replica in replicas if replica is not leader]
    await asyncio.sleep(4 * LEASE_SECONDS)
    assert len(scripted_server.requests_to(KRAKEN_PATH)) == 1
    assert not took_over(survivor.log(), "ingest-prices")

    # The news job, meanwhile, ran several times, always on the same replica.
    before_kill = {replica.name: replica.log() for replica in replicas}
    news_runs = sorted(runs(log, "ingest-news") for log in before_kill.values())
    assert news_runs[0] == 0
    assert news_runs[1] >= 2

    leader.process.kill()  # SIGKILL mid-run: no chance to hand the lease back
    leader.process.wait(timeout=5)
    killed_at = time.monotonic()

    await wait_until(
        lambda: runs(survivor.log(), "ingest-prices") >= 1, 20, "the survivor's price run"
    )
    takeover_seconds = time.monotonic() - killed_at

    assert runs(before_kill[leader.name], "ingest-prices") == 0
    assert not took_over(before_kill[survivor.name], "ingest-prices")
    assert took_over(survivor.log(), "ingest-prices")
    # Lease expiry (at most one lease time after the last renewal) plus one tick at most.
    assert takeover_seconds < LEASE_SECONDS + JOB_MINUTES * 60 + 2
    # The survivor runs the news job from now on too, if it was not already its own.
    await wait_until(
        lambda: (
            runs(survivor.log(), "ingest-news") > runs(before_kill[survivor.name], "ingest-news")
        ),
        20,
        "the survivor's news run",
    )
