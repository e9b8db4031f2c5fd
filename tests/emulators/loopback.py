"""The loopback HTTP server under both emulators, and the ways to run and drive one from afar.

An emulator is an aiohttp application bound to 127.0.0.1 on a free port. It runs either inside
the test's event loop (``async with FakeTelegram() as telegram``) or as its own process
(``python -m tests.emulators.telegram --port 0``), which prints one line ``READY <url>`` once it
listens. Its control interface lives under ``/_control/`` on the same port, so a test can drive
an emulator in another process through :class:`ControlClient`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

logger = logging.getLogger(__name__)

LOOPBACK_HOST = "127.0.0.1"
CONTROL_PREFIX = "/_control"
READY_PREFIX = "READY "
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class LoopbackServer:
    """An aiohttp application served on 127.0.0.1 only, on a free port unless one is given.

    Subclasses build the application in :meth:`build_app` and may wake waiting handlers in
    :meth:`before_stop` so that stopping never waits for a long poll to run out.
    """

    def __init__(self, *, port: int = 0) -> None:
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port the server listens on; only known once started."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://{LOOPBACK_HOST}:{self.port}"

    @property
    def started(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    def build_app(self) -> web.Application:
        """Return the aiohttp application to serve."""
        raise NotImplementedError

    async def before_stop(self) -> None:
        """Wake handlers that wait (long polls, delays) so that stopping is quick."""

    async def start(self) -> Self:
        """Bind 127.0.0.1 and start serving.

        Returns:
            The server itself, for chaining.
        """
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK_HOST, self._requested_port))
        # The access log would print each URL, and a Bot API URL holds the bot token.
        runner = web.AppRunner(
            self.build_app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        await web.SockSite(runner, listener).start()
        self._runner = runner
        self._port = listener.getsockname()[1]
        logger.info("%s listening on %s", type(self).__name__, self.url)
        return self

    async def stop(self) -> None:
        """Stop serving; waiting requests are answered or dropped first."""
        if self._runner is None:
            return

        await self.before_stop()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        logger.info("%s stopped", type(self).__name__)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def json_response(payload: Any, status: int = 200) -> web.Response:
    """Answer ``payload`` as compact JSON, like both real APIs do."""
    return web.Response(
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


def drop_connection(request: web.Request) -> web.Response:
    """Close the client's connection without sending any answer.

    Returns:
        A response aiohttp will not manage to send, because the socket is already gone.
    """
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=499)


class ControlError(RuntimeError):
    """The emulator's control interface refused a command or could not be reached."""


class ControlClient:
    """Drives an emulator in another process through its ``/_control/`` HTTP interface.

    Every call has a timeout; a refused command raises :class:`ControlError`.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        if not url.startswith(f"http://{LOOPBACK_HOST}:"):
            raise ValueError("an emulator is only ever reached on 127.0.0.1")
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        http_method: str,
        command: str,
        payload: dict[str, Any] | None = None,
        *,
        time_limit: float | None = None,
    ) -> Any:
        """Send one control command and return its decoded JSON answer.

        Args:
            http_method: ``GET``, ``POST`` or ``DELETE``.
            command: The path below ``/_control/``.
            payload: JSON body (POST) or query parameters (GET).
            time_limit: Seconds for this call, when it needs longer than the default.

        Raises:
            ControlError: The emulator answered with an error or could not be reached.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)

        url = f"{self.url}{CONTROL_PREFIX}/{command}"
        options: dict[str, Any] = {}
        if payload is not None and http_method == "GET":
            options["params"] = {key: str(value) for key, value in payload.items()}
        elif payload is not None:
            options["json"] = payload
        if time_limit is not None:
            options["timeout"] = aiohttp.ClientTimeout(total=time_limit)

        try:
            async with self._session.request(http_method, url, **options) as response:
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ControlError(f"{command}: {error!r}") from error
        if response.status >= 400:
            raise ControlError(f"{command}: {body.get('error', body)}")
        return body


class EmulatorProcess:
    """Runs ``python -m <module> --port 0`` and learns its URL from the ``READY`` line.

    Use as ``async with EmulatorProcess("tests.emulators.telegram") as process: process.url``.
    The process is terminated (then killed) on exit.
    """

    def __init__(
        self, module: str, *arguments: str, start_timeout: float = 15.0, port: int = 0
    ) -> None:
        self.module = module
        self.arguments = arguments
        self.start_timeout = start_timeout
        self.requested_port = port
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        """The process id of the running emulator."""
        if self._process is None:
            raise RuntimeError("the emulator process is not running")
        return self._process.pid

    async def __aenter__(self) -> Self:
        environment = dict(os.environ, PYTHONUNBUFFERED="1")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            "--port",
            str(self.requested_port),
            *self.arguments,
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            self.url = await asyncio.wait_for(self._read_ready_line(), self.start_timeout)
        except BaseException:
            await self._terminate()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._terminate()

    async def _read_ready_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        while True:
            line = await self._process.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.module} exited before it was ready")
            text = line.decode().strip()
            if text.startswith(READY_PREFIX):
                return text.removeprefix(READY_PREFIX)

    async def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return

        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await process.wait()


def run_cli(
    factory: Callable[[argparse.Namespace], LoopbackServer],
    parser: argparse.ArgumentParser,
    argv: list[str] | None = None,
) -> int:
    """Serve one emulator until SIGTERM or SIGINT; the body of each ``python -m`` entry point.

    Args:
        factory: Builds the emulator from the parsed arguments.
        parser: The module's argument parser; ``--port`` is added here.
        argv: Arguments, ``sys.argv[1:]`` when ``None``.

    Returns:
        The process exit status.
    """
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--log-level", default="WARNING", help="logging level for stderr")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=arguments.log_level.upper(), stream=sys.stderr)
    asyncio.run(_serve_until_signalled(factory(arguments)))
    return 0


async def _serve_until_signalled(server: LoopbackServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)

    async with server:
        print(f"{READY_PREFIX}{server.url}", flush=True)
        await stop.wait()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
