"""The lock files pin every dependency pyproject.toml names, each with its hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return canonical(match.group(0))


def pinned(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text(encoding="utf-8")
    return {canonical(name): version for name, version in PIN.findall(text)}


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("requirements.lock", ()), ("requirements-dev.lock", ("test", "dev"))],
)
def test_every_declared_dependency_is_pinned(lock: str, groups: tuple[str, ...]) -> None:
    wanted = [*PROJECT["dependencies"]]
    for group in groups:
        wanted += PROJECT["optional-dependencies"][group]
    names = {requirement_name(item) for item in wanted} - {"bitcoin-analyzer"}

    missing = sorted(names - pinned(lock).keys())

    assert missing == [], f"regenerate {lock} (command at its top): {missing} not pinned"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_pin_carries_a_hash(lock: str) -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text(encoding="utf-8"))

    unhashed = [block.split()[0] for block in blocks if "==" in block and "--hash=" not in block]

    assert unhashed == []
