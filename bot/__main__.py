"""The command line: ``bitcoin-analyzer run | chat | ingest | migrate | seed``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import BitcoinAnalyzerError, ConfigError
from core.settings import Settings, load_settings

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    parser = argparse.ArgumentParser(
        prog="bitcoin-analyzer",
        description="A Telegram bot that explains Bitcoin to beginners from stored data.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("run", help="run the Telegram bot (long polling)")

    chat = commands.add_parser("chat", help="talk to the bot in this terminal, no Telegram")
    chat.add_argument(
        "--once",
        metavar="LINE",
        action="append",
        help='answer this line, e.g. "/trend 7d", and exit; repeat it to ask several',
    )
    chat.add_argument("--lang", choices=("en", "fr"), help="reply language (default: setting)")

    commands.add_parser(
        "migrate", help="bring the database schema to the newest revision, then exit"
    )

    commands.add_parser("ingest", help="fetch prices and headlines once, and say what was stored")

    seed = commands.add_parser("seed", help="import the embedded data set, or the given files")
    seed.add_argument("files", nargs="*", type=Path, help="CSV price files or RSS/Atom files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, read the settings, and run the chosen command."""
    arguments = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"bitcoin-analyzer: {error}", file=sys.stderr)
        return 2

    _configure_logging(settings, quiet=arguments.command == "chat")
    try:
        if arguments.command == "run":
            return _run_bot(settings)
        if arguments.command == "chat":
            from bot.console import run_console

            return run_console(settings, arguments.once, arguments.lang)
        if arguments.command == "ingest":
            return asyncio.run(_ingest(settings))
        if arguments.command == "migrate":
            return asyncio.run(_migrate(settings))
        return asyncio.run(_seed(settings, arguments.files))
    except ConfigError as error:
        print(f"bitcoin-analyzer: {error}", file=sys.stderr)
        return 2
    except BitcoinAnalyzerError as error:
        print(f"bitcoin-analyzer: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader left early (``| head``): say nothing more, and let the exit be quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _configure_logging(settings: Settings, *, quiet: bool) -> None:
    """Set up logging; the console keeps its screen for replies unless LOG_LEVEL is set."""
    from bot.logs import configure_logging

    level = settings.log_level
    if quiet and "log_level" not in settings.model_fields_set:
        level = "WARNING"
    configure_logging(level, settings.secret_values(), settings.log_format)


def _run_bot(settings: Settings) -> int:
    from bot.telegram_bot import build_application, run

    run(build_application(settings), settings)
    return 0


async def _migrate(settings: Settings) -> int:
    from storage.database import open_database

    database = open_database(settings.resolved_database_url)
    try:
        revision = await database.migrate()
    finally:
        await database.close()

    print(f"{database.safe_url}: schema at revision {revision}, the newest")
    return 0


async def _ingest(settings: Settings) -> int:
    from core.runtime import Runtime

    runtime = await Runtime.start(settings)
    try:
        reports = [*await runtime.ingest_prices(), *await runtime.ingest_news()]
    finally:
        await runtime.close()

    for report in reports:
        print(report.summary())
    return 1 if all(report.error for report in reports) else 0


async def _seed(settings: Settings, files: list[Path]) -> int:
    from core.runtime import Runtime

    runtime = await Runtime.start(settings, seed=False)
    try:
        if files:
            reports = [await runtime.importer.import_path(path) for path in files]
        else:
            reports = await runtime.importer.import_embedded()
    finally:
        await runtime.close()

    for report in reports:
        print(report.summary())
    return 1 if any(report.error for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
