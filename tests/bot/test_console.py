"""The console, run the way a user runs it: ``python -m bot chat --once ...`` in a new folder."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.seeded import copy_seeded

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "GEMINI_", "GOOGLE_", "DATABASE_", "ADMIN_"))
    }
    environment["DATA_DIR"] = str(tmp_path / "data")
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *arguments],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_once_seeds_an_empty_database_and_answers_trend_news_and_status(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "chat", "--once", "/trend 7d", "--once", "/news 2", "--once", "/status"
    )

    assert result.returncode == 0, result.stderr
    assert "BTC over 7d" in result.stdout
    assert "Latest headlines" in result.stdout
    assert "8681 candles" in result.stdout
    assert "<b>" not in result.stdout
    assert (tmp_path / "data" / "bitcoin_analyzer.db").exists()


def test_once_in_french(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "chat", "--lang", "fr", "--once", "/trend 1an")

    assert result.returncode == 0, result.stderr
    assert "BTC sur 1\u00a0an" in result.stdout


@pytest.mark.parametrize("line", ["/trend banana", "/frobnicate"])
def test_once_with_a_bad_command_exits_2_with_a_message(tmp_path: Path, line: str) -> None:
    result = run_cli(tmp_path, "chat", "--once", line)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() != ""
    assert "Traceback" not in result.stderr


def test_an_invalid_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ADMIN_IDS=alice,bob\n")

    result = run_cli(tmp_path, "chat", "--once", "/help")

    assert result.returncode == 2
    assert "ADMIN_IDS" in result.stderr
    assert "Traceback" not in result.stderr


def test_seed_twice_adds_nothing_the_second_time(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "seed")
    second = run_cli(tmp_path, "seed")

    assert first.returncode == 0, first.stderr
    assert (
        "btc_usd_hourly_cryptocompare.csv: 4668 rows read, 4668 stored (4668 new, 0 replaced)"
        in first.stdout
    )
    assert second.returncode == 0, second.stderr
    assert all("(0 new" in line for line in second.stdout.splitlines())


def test_digest_prints_as_text_and_chart_is_saved_as_a_png(
    tmp_path: Path, seeded_template: Path
) -> None:
    copy_seeded(seeded_template, tmp_path / "data")

    result = run_cli(tmp_path, "chat", "--once", "/digest", "--once", "/chart 30d")

    assert result.returncode == 0, result.stderr
    saved = [
        Path(line.removeprefix("Chart saved to "))
        for line in result.stdout.splitlines()
        if line.startswith("Chart saved to ")
    ]
    assert [path.name for path in saved] == [
        f"digest-{datetime.now(UTC).date().isoformat()}.png",
        "chart-30d-20251123-0000.png",
    ]
    assert all(path.parent == (tmp_path / "data" / "charts").resolve() for path in saved)
    header = saved[1].read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1200, 675)
    assert "Bitcoin daily digest · " in result.stdout
    assert "Last 7 days: down (-11.4%)" in result.stdout
    assert "BTC-USD over 30d, up to 2025-11-23 00:00 UTC (721 hourly candles)." in result.stdout
    assert "<b>" not in result.stdout


def test_subscribing_is_for_telegram_chats(tmp_path: Path, seeded_template: Path) -> None:
    copy_seeded(seeded_template, tmp_path / "data")

    result = run_cli(tmp_path, "chat", "--once", "/subscribe")

    assert result.returncode == 2
    assert "Subscriptions are for Telegram chats." in result.stderr


def test_a_fixed_offset_for_the_digest_zone_stops_start_up_naming_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DIGEST_TZ=+01:00\n")

    result = run_cli(tmp_path, "chat", "--once", "/help")

    assert result.returncode == 2
    assert "Invalid setting DIGEST_TZ" in result.stderr
    assert "fixed offset" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_prompt_answers_piped_lines_and_leaves_at_the_end_of_input(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    for name in list(environment):
        if name.startswith(("TELEGRAM_", "GEMINI_", "GOOGLE_", "DATABASE_", "ADMIN_")):
            del environment[name]

    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="/help\n/trend 24h\n",
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "/trend [window]" in result.stdout
    assert "BTC over 24h" in result.stdout


def test_ctrl_c_at_the_prompt_leaves_at_once(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=environment,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Bitcoin Analyzer console")
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=10)
    finally:
        process.kill()
        _, errors = process.communicate()

    # 0 when the interrupt lands in the prompt's read, 130 when it lands just outside it:
    # either way the console leaves at once and quietly.
    assert returncode in {0, 130}
    assert "Traceback" not in errors
