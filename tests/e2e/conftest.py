"""The end-to-end world: the emulators, a silent source server and the real bot, started once.

The bot process (``python -m bot run``) is started once for the whole ``tests/e2e`` package
and stopped after its last test; every test talks to it through the fake Bot API in a chat of
its own (:meth:`Conversation.user` gives a new user each time), so tests do not see each
other's messages or spend each other's allowances. Before each test the emulators forget
their faults and the fake Gemini its requests and queued replies.

Every address setting points at a server started here on 127.0.0.1: the fake Bot API, the
fake Gemini, and a scripted server for the price providers and the news feed on which nothing
is scripted (ingestion is off; a request to it would fail the run at teardown). The bot runs
with ``LOG_LEVEL=DEBUG`` and recognisable secrets, and the whole of its log is checked for
them when it stops.

Every test module here runs in the package's event loop:
``pytestmark = pytest.mark.asyncio(loop_scope="package")``.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from core.analysis import Trend, TrendFacts, VolatilityLabel, compute_facts
from core.answers import check_answer
from core.candles import SYMBOL
from core.languages import FRENCH, resolve_language
from core.windows import parse_window
from storage.database import Database, open_database
from storage.repositories import PriceRepository
from tests.e2e.bot_process import BotProcess, bot_environment
from tests.emulators.gemini import FakeGemini
from tests.emulators.telegram import FakeTelegram, SentMessage
from tests.support.scripted_server import ScriptedServer

# Recognisable test secrets: the log must never show them, nor the token's part after ":".
TOKEN = "5566778899:e2e-token-SECRET-after-the-colon"
TOKEN_SECRET_PART = TOKEN.split(":", 1)[1]
GEMINI_KEY = "e2e-gemini-key-SECRET-not-real-0123"
SECRETS = (TOKEN, TOKEN_SECRET_PART, GEMINI_KEY)

# Two admins, so that two tests never share an admin's chat.
ADMIN_ID = 4242
OTHER_ADMIN_ID = 4243
GEMINI_TIMEOUT_SECONDS = 1.0
GEMINI_RETRIES = 1
TREND_DEADLINE_SECONDS = 4.0
TREND_LIMIT_CALLS = 4
REPLY_TIMEOUT = 10.0


@dataclass(frozen=True)
class User:
    """A Telegram user talking to the bot in a private chat of their own."""

    id: int
    language: str = "en"

    @property
    def chat_id(self) -> int:
        """A private chat's id is its user's id."""
        return self.id


@dataclass
class World:
    """Everything the end-to-end tests share: emulators, the source server, the bot."""

    telegram: FakeTelegram
    gemini: FakeGemini
    sources: ScriptedServer
    bot: BotProcess
    database: Database
    data_dir: Path
    start_seconds: float
    user_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(700_000_001))

    async def facts(self, window_text: str) -> TrendFacts:
        """The facts the bot computes for a window, from the bot's own database."""
        window = parse_window(window_text)
        candles = await PriceRepository(self.database).window(
            SYMBOL, window.interval, window.duration
        )
        return compute_facts(candles, window)


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """Start the emulators and the bot once; stop the bot cleanly and check what it left."""
    root = tmp_path_factory.mktemp("e2e")
    data_dir = root / "data"
    async with FakeTelegram(token=TOKEN) as telegram, FakeGemini(api_key=GEMINI_KEY) as gemini:
        sources = ScriptedServer()
        await sources.start()
        settings = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": telegram.base_url,
            "TELEGRAM_FILE_BASE_URL": telegram.base_file_url,
            "TELEGRAM_TIMEOUT_SECONDS": "5",
            "GEMINI_API_KEY": GEMINI_KEY,
            "GOOGLE_GEMINI_BASE_URL": gemini.url,
            "GEMINI_TIMEOUT_SECONDS": str(GEMINI_TIMEOUT_SECONDS),
            "GEMINI_RETRIES": str(GEMINI_RETRIES),
            "TREND_DEADLINE_SECONDS": str(TREND_DEADLINE_SECONDS),
            "DATA_DIR": str(data_dir),
            "INGESTION_ENABLED": "false",
            "BINANCE_BASE_URL": sources.url("/binance"),
            "KRAKEN_BASE_URL": sources.url("/kraken"),
            "COINBASE_BASE_URL": sources.url("/coinbase"),
            "COINGECKO_BASE_URL": sources.url("/coingecko"),
            "NEWS_FEEDS": f"local={sources.url('/feed.xml')}",
            "ADMIN_IDS": f"{ADMIN_ID},{OTHER_ADMIN_ID}",
            "TREND_LIMIT_CALLS": str(TREND_LIMIT_CALLS),
            "TREND_LIMIT_PERIOD_SECONDS": "600",
            "LOG_LEVEL": "DEBUG",
        }
        guard_record = root / "network_guard.txt"
        bot = BotProcess(
            bot_environment(settings=settings, guard_record=guard_record),
            workdir=root / "cwd",
            log_path=root / "bot.log",
            guard_record=guard_record,
        )
        started = time.monotonic()
        await bot.start()
        database: Database | None = None
        try:
            await bot.wait_until_polling(telegram)
            database = open_database(f"sqlite+aiosqlite:///{data_dir / 'bitcoin_analyzer.db'}")
            yield World(
                telegram=telegram,
                gemini=gemini,
                sources=sources,
                bot=bot,
                database=database,
                data_dir=data_dir,
                start_seconds=time.monotonic() - started,
            )
        finally:
            returncode = await bot.stop()
            if database is not None:
                await database.close()
            await sources.close()

    log = bot.log()
    assert returncode == 0, bot.log_tail()
    assert bot.network_attempts() == []
    assert sources.requests == []
    assert [secret for secret in SECRETS if secret in log] == []


@dataclass
class Conversation:
    """One test's view of the world: new users, commands in, replies out, the new log."""

    world: World
    log_mark: int

    @property
    def telegram(self) -> FakeTelegram:
        return self.world.telegram

    @property
    def gemini(self) -> FakeGemini:
        return self.world.gemini

    def user(self, language: str = "en") -> User:
        """A user never seen before, in a private chat of their own."""
        return User(next(self.world.user_ids), language)

    def send(self, text: str, user: User, **details: Any) -> dict[str, Any]:
        """Queue a message from ``user`` for the bot's next poll."""
        details.setdefault("chat_id", user.chat_id)
        return self.telegram.inject_message(
            text, user_id=user.id, language_code=user.language, **details
        )

    async def ask(
        self,
        text: str,
        user: User,
        *,
        replies: int = 1,
        timeout: float = REPLY_TIMEOUT,  # noqa: ASYNC109
        **details: Any,
    ) -> list[SentMessage]:
        """Send a message and wait for ``replies`` new messages in its chat."""
        chat_id = details.get("chat_id", user.chat_id)
        before = len(self.telegram.sent(chat_id))
        self.send(text, user, **details)
        sent = await self.telegram.wait_for_sent(before + replies, timeout, chat_id=chat_id)
        return sent[before:]

    async def ask_one(self, text: str, user: User, **details: Any) -> SentMessage:
        """Send a message and return the one reply."""
        (reply,) = await self.ask(text, user, **details)
        return reply

    async def handled(
        self, user: User, count: int = 1, *, chat_id: int | None = None
    ) -> list[str]:
        """Wait for the log lines of ``count`` commands handled in ``user``'s chat; return them.

        Each command's line is written just after its reply leaves, so it may still be on its
        way when the reply is seen, and may even land after the next test began: lines are
        picked by chat, and every test talks in chats of its own.
        """
        chat = user.chat_id if chat_id is None else chat_id
        return await self.wait_for_log(rf"(command=\w+ chat={chat} .*)", count)

    def new_log(self) -> str:
        """What the bot logged since this test began."""
        return self.world.bot.log(self.log_mark)

    async def wait_for_log(
        self,
        pattern: str,
        count: int = 1,
        timeout: float = REPLY_TIMEOUT,  # noqa: ASYNC109
    ) -> list[str]:
        """Wait until the log since this test began matches ``pattern`` ``count`` times.

        The bot writes a command's log line just after the reply leaves, so a test that has
        its reply may still have to wait a moment for the line.

        Returns:
            The first group of each match (or the whole match when there is no group).
        """
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = [
                match.group(1) if compiled.groups else match.group(0)
                for match in compiled.finditer(self.new_log())
            ]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {count} log lines match {pattern!r}")
            await asyncio.sleep(0.02)


@pytest_asyncio.fixture(loop_scope="package")
async def conversation(world: World) -> AsyncIterator[Conversation]:
    """A fresh start for one test: no fault pending, no Gemini request or queued reply."""
    world.telegram.clear_faults()
    world.telegram.clear_rate_limit()
    world.gemini.reset()
    yield Conversation(world, world.bot.log_size())
    world.telegram.clear_faults()
    world.gemini.reset()
    assert world.bot.running, world.bot.log_tail()


def analysis_for(facts: TrendFacts, language: str, *, markdown: bool = False) -> str:
    """Two sentences a good model could write about ``facts``, in ``language``.

    They name the computed direction and volatility, so the bot's answer checks accept them
    (checked here, so a failure points at the test, not the bot).
    """
    change = abs(facts.change_pct)
    if resolve_language(language) == FRENCH:
        verb = {Trend.UP: "a monté", Trend.DOWN: "a baissé", Trend.FLAT: "est resté stable"}
        mood = {
            VolatilityLabel.CALM: "calme",
            VolatilityLabel.NORMAL: "dans la moyenne",
            VolatilityLabel.VOLATILE: "très agité",
        }
        first = f"Sur cette période, le bitcoin {verb[facts.trend]} de {change:.1f} %"
        text = (
            f"{first}, de {facts.first_close:.0f} à {facts.last_close:.0f} dollars. "
            f"Le marché a été {mood[facts.volatility_label]}."
        )
    else:
        verb = {Trend.UP: "rose", Trend.DOWN: "fell", Trend.FLAT: "stayed flat"}
        mood = {
            VolatilityLabel.CALM: "calm",
            VolatilityLabel.NORMAL: "ordinary",
            VolatilityLabel.VOLATILE: "very volatile",
        }
        first = f"Over this window, Bitcoin {verb[facts.trend]} by {change:.1f}%"
        text = (
            f"{first}, from {facts.first_close:.0f} to {facts.last_close:.0f} dollars. "
            f"The market was {mood[facts.volatility_label]}."
        )
    if markdown:
        text = text.replace("Bitcoin", "**Bitcoin**").replace("bitcoin", "**bitcoin**")
    assert check_answer(text, facts, language)
    return text
