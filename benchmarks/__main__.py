"""The one command: ``python -m benchmarks [--quick] [NAME...]``; see docs/benchmarks.md."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.report import Machine, render, render_table
from benchmarks.support import Context, Result, loopback_only, strip_environment

logger = logging.getLogger(__name__)

# Run in this order; each name is a module of this package with NAME, TITLE and run().
BENCHMARKS = (
    "trend_latency",
    "gemini_calls",
    "ingestion",
    "digest_broadcast",
    "process",
)
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run Bitcoin Analyzer's benchmarks."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller, faster runs")
    parser.add_argument("--list", action="store_true", help="name the benchmarks and exit")
    parser.add_argument(
        "--output",
        type=Path,
        help=f"write the page here (default: {DOC.relative_to(DOC.parents[1])}, "
        "rewritten only by a full run of every benchmark)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks one after another, each in its own event loop."""
    arguments = build_parser().parse_args(argv)
    if arguments.list:
        for name in BENCHMARKS:
            print(f"{name}: {importlib.import_module(f'benchmarks.{name}').TITLE}")
        return 0
    unknown = sorted(set(arguments.names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    strip_environment()
    chosen = [name for name in BENCHMARKS if not arguments.names or name in arguments.names]
    started = datetime.now(UTC)
    results: list[Result] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as folder, loopback_only() as outside:
        context = Context(quick=arguments.quick, work_dir=Path(folder))
        for name in chosen:
            module = importlib.import_module(f"benchmarks.{name}")
            print(f"running {name}...", flush=True)
            clock = time.perf_counter()
            try:
                result = asyncio.run(module.run(context))
            except Exception:
                logger.exception("Benchmark %s failed", name)
                failed.append(name)
                continue
            result.seconds = time.perf_counter() - clock
            results.append(result)
            print(render_table([result]), flush=True)
    if outside:
        print(f"refused connections beyond 127.0.0.1: {outside}")
        return 1

    complete = not arguments.quick and not failed and len(chosen) == len(BENCHMARKS)
    output = arguments.output or (DOC if complete else None)
    if output is not None:
        page = render(results, Machine.describe(), started, quick=arguments.quick, missing=failed)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(page, encoding="utf-8")
        print(f"wrote {output}")
    else:
        print("docs/benchmarks.md left alone (only a full run of every benchmark rewrites it)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
