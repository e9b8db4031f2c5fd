"""The real bot as a child process: ``python -m bot run``, started and stopped like a user would.

:class:`BotProcess` starts the bot with an environment built by :func:`bot_environment`
(every address on 127.0.0.1, a temporary data folder, no setting or secret of the
developer's, no proxy), sends its standard error to a file, waits until it polls the fake
Bot API, and stops it with SIGINT (then SIGTERM, then SIGKILL, each after a timeout).

A network guard (``network_guard/sitecustomize.py``) is loaded into the child: any lookup or
connection beyond loopback is refused and written down, and :meth:`BotProcess.network_attempts`
reads what was.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from core.settings import Settings
from tests.emulators.telegram import FakeTelegram

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GUARD_FOLDER = Path(__file__).resolve().parent / "network_guard"
LOOPBACK_PREFIX = "http://127.0.0.1:"

# Settings that hold an address the bot calls: every one must point at a server the test
# started. The database is a local file here; a webhook's address is the bot's own, given to
# Telegram, never called.
ADDRESS_SETTINGS = tuple(
    name.upper()
    for name in Settings.model_fields
    if name.endswith("_url") and name not in {"database_url", "webhook_url"}
)
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def bot_environment(
    *,
    settings: Mapping[str, str],
    guard_record: Path,
) -> dict[str, str]:
    """The child's environment: this interpreter's, minus every setting, secret and proxy.

    Args:
        settings: The bot's settings, by environment name (``TELEGRAM_BOT_TOKEN``...).
        guard_record: The file the network guard writes refused attempts to.

    Raises:
        ValueError: An address setting is missing or points beyond 127.0.0.1.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in {field.upper() for field in Settings.model_fields}
        and name.upper() not in _PROXY_VARIABLES
        and not name.upper().startswith(("GOOGLE_", "GEMINI_", "TELEGRAM_"))
    }
    environment.update(settings)
    environment.update(
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=os.pathsep.join((str(GUARD_FOLDER), str(PROJECT_ROOT))),
        PYTHONUNBUFFERED="1",
        E2E_NETWORK_GUARD_LOG=str(guard_record),
    )
    check_loopback_only(environment)
    return environment


def check_loopback_only(environment: Mapping[str, str]) -> None:
    """Refuse an environment whose addresses could reach anything but 127.0.0.1.

    Raises:
        ValueError: Naming the setting.
    """
    for name in ADDRESS_SETTINGS:
        value = environment.get(name)
        if value is None or not value.startswith(LOOPBACK_PREFIX):
            raise ValueError(f"{name} must point at a local test server, not {value!r}")
    feeds = environment.get("NEWS_FEEDS")
    if feeds is None:
        raise ValueError("NEWS_FEEDS must point at a local test server")
    for item in feeds.split(","):
        _, _, url = item.partition("=")
        if urlsplit(url.strip()).hostname != "127.0.0.1":
            raise ValueError(f"NEWS_FEEDS must point at a local test server, not {url!r}")


class BotProcess:
    """``python -m bot run`` in a child process, its standard error captured in a file.

    Args:
        environment: From :func:`bot_environment`.
        workdir: The child's working folder (no ``.env`` file in it).
        log_path: Where the child's standard error goes.
        guard_record: The network guard's record (the same path as in ``environment``).
    """

    def __init__(
        self, environment: dict[str, str], workdir: Path, log_path: Path, guard_record: Path
    ) -> None:
        self.environment = environment
        self.workdir = workdir
        self.log_path = log_path
        self.guard_record = guard_record
        self.returncode: int | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        """Whether the child is started and has not exited."""
        return self._process is not None and self._process.returncode is None

    async def start(self, *arguments: str) -> None:
        """Spawn ``python -m bot <arguments>`` (``run`` by default)."""
        if self._process is not None:
            raise RuntimeError("the bot process is already started")

        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *(arguments or ("run",)),
                cwd=self.workdir,
                env=self.environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    async def wait_until_polling(self, telegram: FakeTelegram, timeout: float = 30.0) -> float:  # noqa: ASYNC109
        """Wait until the bot has called getUpdates; return the seconds it took.

        Raises:
            RuntimeError: The bot exited first, or did not poll in time (its log is quoted).
        """
        started = time.monotonic()
        while not telegram.calls("getUpdates"):
            if not self.running:
                raise RuntimeError(f"the bot exited before polling:\n{self.log_tail()}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the bot did not poll within {timeout} s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def wait(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """Wait for the child to exit by itself; return its exit status."""
        assert self._process is not None
        self.returncode = await asyncio.wait_for(self._process.wait(), timeout)
        return self.returncode

    async def stop(self, timeout: float = 10.0) -> int:  # noqa: ASYNC109
        """Stop the bot as Ctrl+C does, escalating to SIGTERM then SIGKILL after ``timeout``.

        Returns:
            The exit status (negative: the signal that killed it).
        """
        process = self._process
        if process is None:
            raise RuntimeError("the bot process was never started")
        for sent in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if process.returncode is not None:
                break
            process.send_signal(sent)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                continue
        self.returncode = await process.wait()
        return self.returncode

    def log_size(self) -> int:
        """How many bytes the log holds now: a mark to read from later."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log(self, since: int = 0) -> str:
        """The log from byte ``since`` on."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode("utf-8", errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the log, for failure messages."""
        return "\n".join(self.log().splitlines()[-lines:])

    def network_attempts(self) -> list[str]:
        """Every lookup or connection beyond loopback the guard refused in the child."""
        if not self.guard_record.exists():
            return []
        return self.guard_record.read_text(encoding="utf-8").splitlines()
