"""The bot as a process: start-up time to the first getUpdates, and resident memory.

Method. ``python -m bot run`` is started as a subprocess, exactly as in production, with
``INGESTION_ENABLED=false`` and every base URL on 127.0.0.1: the Bot API is the Telegram
emulator of tests/emulators/telegram.py (in the benchmark's process), Gemini is the emulator in
its own process answering at once, and the price providers and feeds point at a closed local
port (ingestion is off, so they are never asked). The data folder holds a copy of the seeded
database, except for the cold start, which begins with an empty folder and seeds it.

* Start-up: from just before the process is spawned to the emulator's receipt of the first
  ``getUpdates`` call (both on the wall clock), each start a new process; the median of the
  warm starts is reported, and the one cold start.
* Memory: the process's resident set (``VmRSS`` in ``/proc``, Linux) once it polls, then after
  every tenth of 10,000 updates, each a command from a different user (so that the per-user
  allowances and PTB's per-chat data grow as with real users): 50 % ``/trend`` (24h, 7d, 30d
  or none), 20 % ``/news``, 15 % ``/help``, 10 % ``/start``, 5 % ``/status`` (refused: not an
  admin); 30 % of users French. The updates are queued 1,000 at a time; a batch is done when
  each of its commands has been answered. ``VmHWM`` gives the peak.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.support import (
    BOT_TOKEN,
    GEMINI_KEY,
    Context,
    Result,
    Row,
    loopback_environment,
    mib,
    rss_bytes,
)
from tests.emulators.gemini import RemoteGemini, Reply
from tests.emulators.loopback import PROJECT_ROOT, EmulatorProcess
from tests.emulators.telegram import FakeTelegram

NAME = "process"
TITLE = "Start-up time and resident memory of `python -m bot run`"
START_TIMEOUT_SECONDS = 60.0
COMMANDS = (
    ("/trend", 10),
    ("/trend 24h", 15),
    ("/trend 7d", 15),
    ("/trend 30d", 10),
    ("/news", 20),
    ("/help", 15),
    ("/start", 10),
    ("/status", 5),
)


@dataclasses.dataclass
class _Sizes:
    warm_starts: int
    updates: int
    batch: int


def _sizes(quick: bool) -> _Sizes:
    if quick:
        return _Sizes(warm_starts=1, updates=1000, batch=500)
    return _Sizes(warm_starts=3, updates=10_000, batch=1000)


async def run(context: Context) -> Result:
    """Start the bot several times, then feed one process its updates; see the docstring."""
    sizes = _sizes(context.quick)
    result = Result(NAME, TITLE, __doc__ or "")
    async with (
        EmulatorProcess("benchmarks.model_server", "--api-key", GEMINI_KEY) as model,
        RemoteGemini(model.url) as gemini,
    ):
        await gemini.set_default(Reply.answer())
        cold_dir = context.work_dir / NAME / "cold"
        cold_dir.mkdir(parents=True, exist_ok=True)
        async with (
            FakeTelegram(token=BOT_TOKEN) as telegram,
            _Bot(context, telegram, model.url, cold_dir) as bot,
        ):
            cold = bot.startup
        warm = []
        for number in range(sizes.warm_starts):
            data_dir = await context.seeded_data_dir(f"{NAME}-{number}")
            async with (
                FakeTelegram(token=BOT_TOKEN) as telegram,
                _Bot(context, telegram, model.url, data_dir) as bot,
            ):
                warm.append(bot.startup)
                if number == sizes.warm_starts - 1:
                    await _feed(bot, telegram, sizes, result)

    result.notes.append(_import_times())
    result.rows[0:0] = [
        Row(
            f"start-up to the first getUpdates, seeded database (median of {len(warm)})",
            f"{statistics.median(warm):.2f} s",
        ),
        Row("start-up to the first getUpdates, empty folder (seeding included)", f"{cold:.2f} s"),
    ]
    return result


async def _feed(bot: _Bot, telegram: FakeTelegram, sizes: _Sizes, result: Result) -> None:
    await asyncio.sleep(1.0)  # let the start-up jobs (digest check, command menu) settle
    at_start = rss_bytes(bot.pid)
    answered = len(telegram.sent())
    samples = []
    weights = [weight for _, weight in COMMANDS]
    texts = [text for text, _ in COMMANDS]
    started = time.perf_counter()
    user = 300_000_001
    for _ in range(sizes.updates // sizes.batch):
        for _ in range(sizes.batch):
            text = texts[_pick(user, weights)]
            telegram.inject_command(
                text, chat_id=user, user_id=user, language_code="fr" if user % 10 >= 7 else "en"
            )
            user += 1
        answered += sizes.batch
        await _wait_for_answers(telegram, answered, bot)
        samples.append(rss_bytes(bot.pid))
    elapsed = time.perf_counter() - started
    peak = _peak_bytes(bot.pid)

    result.rows += [
        Row("resident memory once polling", mib(at_start)),
        Row(f"resident memory after {sizes.updates:,} handled updates", mib(samples[-1])),
        Row("growth over those updates", mib(samples[-1] - at_start)),
        Row("peak resident memory (VmHWM)", mib(peak)),
        Row(f"{sizes.updates:,} updates handled in", f"{elapsed:.1f} s"),
    ]
    result.notes.append(
        f"{sizes.updates / elapsed:.0f} updates a second: the bot's Bot API rate limiter "
        "(PTB's AIORateLimiter, 30 calls a second) sets the pace, each update costing one "
        "reply and each /trend a typing action too."
    )
    result.notes.append(
        f"Growth: {(samples[-1] - at_start) / sizes.updates / 1024:.1f} KiB per update, each "
        "from a new user; not broken down further. Per-user state the process keeps: the "
        "/trend allowances (at most 10,000 users, core/limits.py) and PTB's chat_data, "
        "which the handler writes for every chat and nothing bounds."
    )
    result.notes.append(
        f"Resident memory after each batch of {sizes.batch:,} updates: "
        + ", ".join(mib(sample) for sample in samples)
        + "."
    )


IMPORTS = ("google.genai", "telegram", "sqlalchemy", "aiohttp")


def _import_times() -> str:
    """What importing the bot costs, from ``python -X importtime`` (cumulative times)."""
    finished = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bot.telegram_bot"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS,
        check=True,
    )
    cumulative: dict[str, float] = {}
    for line in finished.stderr.splitlines():
        parts = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            cumulative.setdefault(parts[2], int(parts[1]) / 1e6)
    whole = cumulative.get("bot.telegram_bot", 0.0)
    named = ", ".join(f"{name} {cumulative[name]:.2f} s" for name in IMPORTS if name in cumulative)
    return (
        f"Importing the bot's modules alone takes {whole:.2f} s of the start-up "
        f"(python -X importtime, measured first); among them {named}."
    )


def _pick(user: int, weights: list[int]) -> int:
    """The command for a user: spread by the weights, the same in every run."""
    slot = (user * 7919) % sum(weights)
    for index, weight in enumerate(weights):
        if slot < weight:
            return index
        slot -= weight
    return len(weights) - 1


async def _wait_for_answers(telegram: FakeTelegram, count: int, bot: _Bot) -> None:
    """Wait until the bot has sent ``count`` messages, looking twice a second."""
    for _ in range(int(START_TIMEOUT_SECONDS * 10)):
        if len(telegram.sent()) >= count:
            return
        if bot.exited:
            raise RuntimeError(f"the bot exited; see {bot.log}")
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{len(telegram.sent())} of {count} answers after a long wait")


def _peak_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM line for process {pid}")


class _Bot:
    """``python -m bot run`` in a subprocess, from spawn to its first getUpdates, then ended."""

    def __init__(
        self, context: Context, telegram: FakeTelegram, gemini_url: str, data_dir: Path
    ) -> None:
        self._telegram = telegram
        self._environment = {
            **os.environ,
            **loopback_environment(
                TELEGRAM_BOT_TOKEN=BOT_TOKEN,
                TELEGRAM_API_BASE_URL=telegram.base_url,
                TELEGRAM_FILE_BASE_URL=telegram.base_file_url,
                GEMINI_API_KEY=GEMINI_KEY,
                GOOGLE_GEMINI_BASE_URL=gemini_url,
                INGESTION_ENABLED="false",
                DATA_DIR=str(data_dir),
                TREND_LIMIT_CALLS="6",
            ),
            "PYTHONUNBUFFERED": "1",
        }
        self.log = data_dir / "bot.log"
        self._process: asyncio.subprocess.Process | None = None
        self.startup = 0.0

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def exited(self) -> bool:
        return self._process is None or self._process.returncode is not None

    async def __aenter__(self) -> _Bot:
        log = self.log.open("wb")
        spawned = time.time()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=PROJECT_ROOT,
            env=self._environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        try:
            first = await self._first_poll()
        except BaseException:
            await self._end()
            raise
        self.startup = first - spawned
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._end()

    async def _first_poll(self) -> float:
        for _ in range(int(START_TIMEOUT_SECONDS * 100)):
            polls = self._telegram.calls("getUpdates")
            if polls:
                return polls[0].at
            if self.exited:
                raise RuntimeError(f"the bot exited before polling; see {self.log}")
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no getUpdates within {START_TIMEOUT_SECONDS:g} s; see {self.log}")

    async def _end(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15.0)
        except TimeoutError:
            process.kill()
            await process.wait()
