"""The console adapter: the bot's commands at a terminal prompt, without Telegram."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from bot.commands import CommandResult, Commands, Requester, log_handled
from bot.logs import request_id
from bot.replies import PLAIN
from bot.texts import text
from core.runtime import Runtime
from core.settings import Settings

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def parse_line(line: str) -> tuple[str, str] | None:
    """``"/trend 7d"`` (or ``"trend 7d"``) gives ``("trend", "7d")``; a blank line gives None."""
    stripped = line.strip()
    if not stripped:
        return None
    head, _, arguments = stripped.partition(" ")
    return head.lstrip("/").lower(), arguments


async def answer_line(
    runtime: Runtime, commands: Commands, line: str, language: str
) -> CommandResult | None:
    """Run one typed line through the shared command table, logging it like Telegram does."""
    parsed = parse_line(line)
    if parsed is None:
        return None

    command, arguments = parsed
    # The local user of the console owns the machine: they may see /status.
    requester = Requester(chat_id=None, user_id=None, language=language, is_admin=True)
    started = time.perf_counter()
    request_id.set(uuid.uuid4().hex[:8])
    try:
        result = await commands.run(command, arguments, requester, PLAIN)
    except Exception:
        log_handled(runtime, command, None, "error", started)
        raise
    log_handled(runtime, command, None, result.outcome, started, result.details)
    return result


def run_console(settings: Settings, once: Sequence[str] | None, language: str | None) -> int:
    """Answer the ``--once`` lines in turn, or open an interactive prompt; return the exit code.

    With several lines, the exit code is the worst of theirs, and every line is answered.
    The prompt reads the keyboard on the main thread, between the event loop's turns, so
    that Ctrl-C leaves at once.
    """
    language = language or settings.default_language
    with asyncio.Runner() as runner:
        runtime = runner.run(Runtime.start(settings))
        try:
            commands = Commands(runtime)
            if once:
                answers = (_answer_once(runtime, commands, line, language) for line in once)
                return max(runner.run(answer) for answer in answers)
            _prompt(runner, runtime, commands, language)
            return EXIT_OK
        finally:
            runner.run(runtime.close())


async def _answer_once(runtime: Runtime, commands: Commands, line: str, language: str) -> int:
    result = await answer_line(runtime, commands, line, language)
    if result is None:
        print('bitcoin-analyzer: nothing to answer; try --once "/help"', file=sys.stderr)
        return EXIT_USAGE
    if result.outcome in {"usage", "unknown"}:
        print(result.text, file=sys.stderr)
        return EXIT_USAGE
    if result.outcome != "ok":
        print(result.text, file=sys.stderr)
        return EXIT_FAILED
    print(shown(runtime, result, language))
    print()
    return EXIT_OK


def shown(runtime: Runtime, result: CommandResult, language: str) -> str:
    """What the console prints for a reply; a picture is saved in the data folder instead."""
    if result.photo is None:
        return result.text

    path = save_picture(runtime.settings.data_dir, result.photo_name, result.photo)
    lines = [text(language, "chart.saved", path=path)]
    if result.caption:
        lines.append(result.caption)
    if result.text:
        lines += ["", result.text]
    return "\n".join(lines)


def save_picture(data_dir: Path, name: str, png: bytes) -> Path:
    """Write a PNG under ``<data folder>/charts`` and return its absolute path."""
    folder = data_dir / "charts"
    folder.mkdir(parents=True, exist_ok=True)
    safe_name = "".join(char if char.isalnum() or char in "-_" else "_" for char in name)
    path = (folder / f"{safe_name or 'chart'}.png").resolve()
    path.write_bytes(png)
    return path


def _prompt(runner: asyncio.Runner, runtime: Runtime, commands: Commands, language: str) -> None:
    print(text(language, "console.banner"))
    while True:
        try:
            line = input("> ")
            if line.strip().lower() in {"/quit", "/exit", "quit", "exit"}:
                return
            result = runner.run(answer_line(runtime, commands, line, language))
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if result is not None:
            print(shown(runtime, result, language))
            print()
