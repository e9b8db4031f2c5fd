"""A throwaway PostgreSQL server for the tests, started from the machine's own binaries.

The server lives in a temporary data directory, listens on 127.0.0.1 only, on a free port,
trusts local connections and writes nothing durably (``fsync=off``): it is made to be thrown
away. initdb and postgres refuse to run as root, so under root they run as the ``postgres``
user when it exists (Debian's package creates it), else as ``nobody``.

Where the binaries are missing, :func:`find_binaries` says so; the ``postgres_server`` fixture
then fails on CI (``CI=true``) and skips elsewhere, with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "tests"
START_TIMEOUT_SECONDS = 30.0
INSTALL_HINT = "install them with: apt-get install -y postgresql"


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where to reach it and how to name its databases."""

    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of one database on this server."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """The asyncpg DSN of one database on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


def find_binaries() -> Path | None:
    """The folder holding initdb and postgres: PATH first, then Debian's and Ubuntu's layout."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        folder = Path(initdb).resolve().parent
        if (folder / "postgres").exists():
            return folder

    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: _version_of(path), reverse=True
    )
    for candidate in candidates:
        folder = Path(candidate)
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


def _version_of(path: str) -> int:
    version = Path(path).parent.name
    return int(version) if version.isdigit() else 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unprivileged_prefix() -> tuple[list[str], int | None, int | None]:
    """The command prefix that drops root, and the uid and gid the server will run as."""
    if os.geteuid() != 0:
        return [], None, None

    for name in ("postgres", "nobody"):
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        prefix = [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            "--",
        ]
        return prefix, account.pw_uid, account.pw_gid
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


@contextlib.contextmanager
def running_postgres(binaries: Path) -> Iterator[PostgresServer]:
    """Create a cluster in a temporary directory, start it, and remove it all at the end."""
    prefix, uid, gid = _unprivileged_prefix()
    root = Path(tempfile.mkdtemp(prefix="bitcoin-analyzer-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if uid is not None and gid is not None:
        for path in (root, sockets):
            os.chown(path, uid, gid)
    environment = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    log = root / "server.log"

    try:
        subprocess.run(
            [
                *prefix,
                str(binaries / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            env=environment,
            timeout=120,
        )
        port = _free_port()
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [
                    *prefix,
                    str(binaries / "postgres"),
                    "-D",
                    str(data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-k",
                    str(sockets),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        try:
            _wait_until_ready(server, port, log)
            yield PostgresServer("127.0.0.1", port, SUPERUSER)
        finally:
            server.terminate()  # SIGTERM: PostgreSQL's "smart" shutdown, quick with no client
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
    except subprocess.CalledProcessError as error:
        output = (error.stdout or b"").decode(errors="replace") + (error.stderr or b"").decode(
            errors="replace"
        )
        raise RuntimeError(f"initdb failed: {output.strip()}") from error
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_ready(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Wait until the server accepts TCP connections, or fail with its log."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"PostgreSQL stopped at start:\n{log.read_text(errors='replace')}")
        if "ready to accept connections" in log.read_text(errors="replace"):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
        time.sleep(0.05)
    raise RuntimeError(f"PostgreSQL did not start in time:\n{log.read_text(errors='replace')}")
