"""What every benchmark shares: loopback-only settings, the seeded database, a model that reads
the trend label, percentiles, a guard against outside connections, and the result rows."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from core.candles import Candle
from core.importer import Importer, parse_price_csv
from core.metrics import percentile
from core.settings import Settings, load_settings
from storage.database import open_database
from storage.repositories import NewsRepository, PriceRepository
from tests.emulators.gemini import FakeGemini, GeminiRequest, Reply

logger = logging.getLogger(__name__)

GEMINI_KEY = "benchmark-gemini-key-0123456789"
BOT_TOKEN = "123456789:benchmark-token-not-a-real-one"
# Port 9 (discard) has no listener here: a service a benchmark does not start fails at once.
UNUSED_URL = "http://127.0.0.1:9"
# The Gemini latency the original report measured.
GEMINI_LATENCY_SECONDS = 7.0


@dataclass
class Row:
    """One line of the results table."""

    measure: str
    value: str
    goal: str = ""
    met: bool | None = None


@dataclass
class Result:
    """What one benchmark measured, with what the run showed that numbers alone do not."""

    name: str
    title: str
    method: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Context:
    """The run's options and its scratch folder, shared by every benchmark."""

    quick: bool
    work_dir: Path
    _seeded: Path | None = None

    async def seeded_database(self) -> Path:
        """A SQLite file holding the embedded real data set, imported once per run."""
        if self._seeded is None:
            path = self.work_dir / "seeded" / "bitcoin_analyzer.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            database = open_database(sqlite_url(path))
            try:
                await database.create_schema()
                importer = Importer(PriceRepository(database), NewsRepository(database))
                await importer.import_embedded()
            finally:
                await database.close()
            self._seeded = path
        return self._seeded

    async def seeded_data_dir(self, name: str) -> Path:
        """A fresh data folder for one benchmark, starting with a copy of the seeded file."""
        data_dir = self.work_dir / name
        if data_dir.exists():
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True)
        shutil.copyfile(await self.seeded_database(), data_dir / "bitcoin_analyzer.db")
        return data_dir


def sqlite_url(path: Path) -> str:
    """The async SQLAlchemy URL of a SQLite file."""
    return f"sqlite+aiosqlite:///{path}"


def strip_environment() -> None:
    """Forget every setting the developer's shell holds, so that only loopback URLs are used."""
    for name in [*Settings.model_fields, "google_api_key"]:
        os.environ.pop(name.upper(), None)


def loopback_environment(**values: str) -> dict[str, str]:
    """Environment variables pointing every outside service of the bot at 127.0.0.1."""
    environment = {
        "TELEGRAM_API_BASE_URL": f"{UNUSED_URL}/bot",
        "TELEGRAM_FILE_BASE_URL": f"{UNUSED_URL}/file/bot",
        "GOOGLE_GEMINI_BASE_URL": UNUSED_URL,
        "BINANCE_BASE_URL": UNUSED_URL,
        "KRAKEN_BASE_URL": UNUSED_URL,
        "COINBASE_BASE_URL": UNUSED_URL,
        "COINGECKO_BASE_URL": UNUSED_URL,
        "NEWS_FEEDS": f"local={UNUSED_URL}/feed.xml",
        "METRICS_HOST": "127.0.0.1",
    }
    environment.update(values)
    return environment


def local_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings whose every outside address is on 127.0.0.1; no .env file is read."""
    values: dict[str, Any] = {
        "telegram_api_base_url": f"{UNUSED_URL}/bot",
        "telegram_file_base_url": f"{UNUSED_URL}/file/bot",
        "google_gemini_base_url": UNUSED_URL,
        "binance_base_url": UNUSED_URL,
        "kraken_base_url": UNUSED_URL,
        "coinbase_base_url": UNUSED_URL,
        "coingecko_base_url": UNUSED_URL,
        "news_feeds": (("local", f"{UNUSED_URL}/feed.xml"),),
        "ingestion_enabled": False,
        "data_dir": data_dir,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return load_settings(_env_file=None, **values)


def real_hourly_candles() -> list[Candle]:
    """The embedded real CryptoCompare hourly series, oldest first."""
    text = (resources.files("core") / "dataset" / "btc_usd_hourly_cryptocompare.csv").read_text(
        encoding="utf-8"
    )
    return parse_price_csv(text, "cryptocompare").candles


def real_daily_candles() -> list[Candle]:
    """The embedded real Bitstamp daily series, oldest first."""
    text = (resources.files("core") / "dataset" / "btc_usd_daily_bitstamp.csv").read_text(
        encoding="utf-8"
    )
    return parse_price_csv(text, "bitstamp").candles


# What the model is asked to state, per computed trend label and language. Each answer keeps
# to the rules the product checks (direction, language, two sentences, no advice).
_ANSWERS = {
    ("up", "English"): "Over this window the price of Bitcoin went up overall. "
    "Prices moved about as much as they usually do.",
    ("down", "English"): "Over this window the price of Bitcoin went down overall. "
    "Prices moved about as much as they usually do.",
    ("flat", "English"): "Over this window the price of Bitcoin stayed flat overall. "
    "Prices moved about as much as they usually do.",
    ("up", "French"): "Sur cette période, le prix du bitcoin a monté dans l'ensemble. "
    "Les prix ont bougé comme d'habitude.",
    ("down", "French"): "Sur cette période, le prix du bitcoin a baissé dans l'ensemble. "
    "Les prix ont bougé comme d'habitude.",
    ("flat", "French"): "Sur cette période, le prix du bitcoin est resté stable dans "
    "l'ensemble. Les prix ont bougé comme d'habitude.",
}
_TREND_LABEL = re.compile(r"trend label: (up|down|flat)\b")
_LANGUAGE = re.compile(r"sentences in (English|French)")


class LabelReadingGemini(FakeGemini):
    """The fake Gemini, answering each prompt with two sentences that state its trend label.

    A real model reads the computed label in the data block; this one does the same with a
    regular expression, so that every answer passes the product's checks and gets cached,
    whatever window or data point a benchmark asks about. The delay and the recorded body
    come from the emulator as usual.
    """

    def _answer(self, reply: Reply, request: GeminiRequest) -> tuple[int, dict[str, Any]]:
        label = _TREND_LABEL.search(request.prompt)
        language = _LANGUAGE.search(request.prompt)
        if label is not None and language is not None:
            reply = Reply(reply.mode, text=_ANSWERS[(label.group(1), language.group(1))])
        return super()._answer(reply, request)


def summarize_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50, p99, mean and max of latencies in seconds, given back in milliseconds."""
    values = [sample * 1000 for sample in samples]
    return {
        "p50": percentile(values, 0.50) or 0.0,
        "p99": percentile(values, 0.99) or 0.0,
        "mean": sum(values) / len(values) if values else 0.0,
        "max": max(values, default=0.0),
    }


def ms(value: float) -> str:
    """A duration in milliseconds, written with sensible precision."""
    if value >= 1000:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def rss_bytes(pid: int | str = "self") -> int:
    """A process's resident memory, from ``/proc`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS line for process {pid}")


def mib(size: float) -> str:
    """Bytes as MiB with one decimal."""
    return f"{size / 1024 / 1024:.1f} MiB"


class Stopwatch:
    """Times a block with ``time.perf_counter``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self._started


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True  # a Unix socket path or a socketpair
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Refuse, and record, any connection or name lookup beyond 127.0.0.1 in this process."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            attempts.append(f"connect {address[0]}")
            raise ConnectionRefusedError(f"benchmark guard: connection to {address[0]} refused")

    def connect(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_loopback(name):
            attempts.append(f"lookup {name}")
            raise socket.gaierror(f"benchmark guard: lookup of {name} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    setattr(socket.socket, "connect", connect)  # noqa: B010 - patching a C type's method
    setattr(socket.socket, "connect_ex", connect_ex)  # noqa: B010
    socket.getaddrinfo = getaddrinfo
    try:
        yield attempts
    finally:
        setattr(socket.socket, "connect", real_connect)  # noqa: B010
        setattr(socket.socket, "connect_ex", real_connect_ex)  # noqa: B010
        socket.getaddrinfo = real_getaddrinfo


async def gather_limited(coroutines: Sequence[Any], limit: int) -> list[Any]:
    """Await coroutines with at most ``limit`` running at once, results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine: Any) -> Any:
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(one(coroutine) for coroutine in coroutines))
