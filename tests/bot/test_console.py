"""The console, run the way a user runs it: ``python -m bot chat --once ...`` in a new folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "BTC sur 1y" in result.stdout


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
        "btc_usd_hourly_cryptocompare.csv: 4668 rows read, 4668 stored (4668 new)" in first.stdout
    )
    assert second.returncode == 0, second.stderr
    assert all("(0 new)" in line for line in second.stdout.splitlines())
