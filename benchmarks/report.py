"""The machine a run happened on, and the Markdown page that holds a run's results."""

from __future__ import annotations

import os
import platform
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

from benchmarks.support import Result

COMMAND = "python -m benchmarks"


@dataclass(frozen=True)
class Machine:
    """What the numbers depend on."""

    cpu: str
    cores: int
    memory: str
    python: str
    system: str
    libraries: str

    @classmethod
    def describe(cls) -> Machine:
        """Read the processor, cores and memory from ``/proc`` and the versions in use."""
        versions = []
        for package in ("python-telegram-bot", "SQLAlchemy", "aiosqlite", "google-genai"):
            try:
                versions.append(f"{package} {metadata.version(package)}")
            except metadata.PackageNotFoundError:
                continue
        versions.append(f"SQLite {sqlite3.sqlite_version}")
        return cls(
            cpu=_cpu_model(),
            cores=os.cpu_count() or 0,
            memory=_memory(),
            python=f"{platform.python_implementation()} {platform.python_version()}",
            system=platform.platform(terse=True),
            libraries=", ".join(versions),
        )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def render(
    results: Sequence[Result],
    machine: Machine,
    started: datetime,
    *,
    quick: bool,
    missing: Sequence[str] = (),
) -> str:
    """The whole page: how to run, the machine, the results table, then each method."""
    lines = [
        "# Benchmarks",
        "",
        f"Run them all with `{COMMAND}` (about a quarter of an hour on 2 cores, mostly spent "
        "waiting on Telegram's rate limits and on a model that answers in 7 s); "
        f"`{COMMAND} --quick` runs "
        f"smaller, faster versions, and `{COMMAND} NAME...` only the named ones "
        f"(`{COMMAND} --list` names them). A full run of every benchmark rewrites this page; "
        "other runs print their table and leave it alone. They never run in the test suite, "
        "and talk only to servers they start themselves on 127.0.0.1.",
        "",
        "Ratios measured in the same run say more than absolute times: the machine below is "
        "a small shared virtual machine, and its absolute numbers move from run to run.",
        "",
        "## Last run",
        "",
        "| | |",
        "|---|---|",
        f"| date | {started:%Y-%m-%d %H:%M} UTC |",
        f"| processor | {machine.cpu} |",
        f"| cores | {machine.cores} |",
        f"| memory | {machine.memory} |",
        f"| Python | {machine.python} |",
        f"| system | {machine.system} |",
        f"| libraries | {machine.libraries} |",
        f"| mode | {'quick' if quick else 'full'} |",
        "",
        "## Results",
        "",
        "| benchmark | measure | value | goal | met |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        for row in result.rows:
            met = "" if row.met is None else ("yes" if row.met else "**no**")
            lines.append(f"| {result.name} | {row.measure} | {row.value} | {row.goal} | {met} |")
    for name in missing:
        lines.append(f"| {name} | not run | | | |")
    lines.append("")

    for result in results:
        lines += [
            "",
            f"## {result.title}",
            "",
            f"`{COMMAND} {result.name}`, {result.seconds:.0f} s in this run.",
            "",
        ]
        lines += [_unwrap(result.method), ""]
        if result.notes:
            lines += ["What this run showed:", ""]
            lines += [f"- {note}" for note in result.notes]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_table(results: Sequence[Result]) -> str:
    """The results alone, for the terminal."""
    lines = []
    for result in results:
        lines.append(f"{result.name} ({result.seconds:.0f} s)")
        for row in result.rows:
            met = "" if row.met is None else ("  [goal met]" if row.met else "  [GOAL MISSED]")
            goal = f"  (goal {row.goal})" if row.goal else ""
            lines.append(f"  {row.measure}: {row.value}{goal}{met}")
        for note in result.notes:
            lines.append(f"  - {note}")
    return "\n".join(lines)


def _unwrap(docstring: str) -> str:
    """A module docstring as Markdown: its first line dropped, its paragraphs kept."""
    body = docstring.strip().split("\n", 1)[1] if "\n" in docstring.strip() else ""
    return body.strip()
