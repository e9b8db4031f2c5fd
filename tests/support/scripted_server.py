"""A scripted HTTP server on 127.0.0.1 for tests.

Each path has a queue of scripted responses served in order; a response marked ``repeat``
is served again whenever its queue is otherwise empty. A request with nothing scripted gets
a 599 and is recorded as unexpected, which fails the test at teardown.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXCHANGES = FIXTURES / "api" / "exchanges"
NEWS = FIXTURES / "news"


@dataclass(frozen=True)
class Scripted:
    """One scripted response.

    Attributes:
        status: The HTTP status.
        body: The body; ignored when ``fixture`` is set.
        fixture: A path under tests/fixtures whose bytes are the body.
        headers: Extra response headers.
        content_type: The Content-Type header.
        delay: Seconds to wait before answering.
        chunked: Send the body in chunks without Content-Length.
        chunk_size: The size of each chunk when chunked.
        chunk_delay: Seconds to wait before each chunk when chunked.
        repeat: Serve this response again whenever the queue is otherwise empty.
    """

    status: int = 200
    body: bytes | str = b""
    fixture: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    chunked: bool = False
    chunk_size: int = 4096
    chunk_delay: float = 0.0
    repeat: bool = False

    def payload(self) -> bytes:
        """The body's bytes."""
        if self.fixture is not None:
            return (FIXTURES / self.fixture).read_bytes()
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class ScriptedServer:
    """An aiohttp server answering from per-path queues and recording every request."""

    def __init__(self) -> None:
        self._queues: defaultdict[str, deque[Scripted]] = defaultdict(deque)
        self._sticky: dict[str, Scripted] = {}
        self.requests: list[Recorded] = []
        self.unexpected: list[Recorded] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def script(self, path: str, *responses: Scripted) -> None:
        """Queue responses for ``path``; one marked ``repeat`` keeps serving once reached."""
        for response in responses:
            self._queues[path].append(response)

    def requests_to(self, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
        )
        self.requests.append(recorded)
        scripted = self._next(request.path)
        if scripted is None:
            self.unexpected.append(recorded)
            return web.Response(status=599, text=f"nothing scripted for {request.path}")

        await self._pause(scripted.delay)
        return await self._respond(request, scripted)

    async def _pause(self, seconds: float) -> None:
        """Wait, but no longer than until the server closes."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            pass

    def _next(self, path: str) -> Scripted | None:
        queue = self._queues[path]
        if queue:
            scripted = queue.popleft()
            if scripted.repeat:
                self._sticky[path] = scripted
            return scripted
        return self._sticky.get(path)

    async def _respond(self, request: web.Request, scripted: Scripted) -> web.StreamResponse:
        body = scripted.payload()
        headers = {"Content-Type": scripted.content_type, **scripted.headers}
        if not scripted.chunked:
            return web.Response(status=scripted.status, body=body, headers=headers)

        response = web.StreamResponse(status=scripted.status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), scripted.chunk_size):
            await self._pause(scripted.chunk_delay)
            await response.write(body[start : start + scripted.chunk_size])
        await response.write_eof()
        return response


@pytest.fixture
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    """A started scripted server; the test fails if anything unscripted reached it."""
    server = ScriptedServer()
    await server.start()
    yield server
    await server.close()
    assert server.unexpected == []


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that ignores proxy settings from the environment."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client
