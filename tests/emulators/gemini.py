"""A fake Gemini REST API (``generateContent``) on 127.0.0.1 for google-genai's client.

It answers ``POST /{api_version}/models/{model}:generateContent`` the way
``generativelanguage.googleapis.com`` does, with bodies built from the real recorded answers in
``tests/fixtures/api/gemini``. Point the SDK at it with::

    client = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(
            base_url=gemini.url,
            timeout=5_000,  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )

google-genai 3.6.1 joins ``base_url`` and ``{api_version}/models/{model}:generateContent``; its
default API version is ``v1`` (``v1beta`` only with ``HttpOptions(api_version="v1beta")`` or
``GOOGLE_GENAI_API_VERSION=beta``), so the emulator accepts any version segment and records it.
The key travels in the ``x-goog-api-key`` header.

What each mode answers, and what ``await client.aio.models.generate_content(...)`` gives for it
(google-genai 3.6.1 with aiohttp installed, as measured by ``test_gemini_emulator.py``):

* ``answer``: 200, one candidate, ``finishReason: STOP``, the given text (plus, optionally, a part
  with ``"thought": true``). ``response.text`` is the answer only: the SDK leaves thought parts
  out of ``.text``, but they stay in ``candidates[0].content.parts`` (``part.thought is True``),
  so code must never forward raw parts to a user.
* ``blocked``: 200, no candidates, ``promptFeedback.blockReason`` (recorded: PROHIBITED_CONTENT).
  No exception; ``response.text is None``, ``response.prompt_feedback.block_reason`` is set.
* ``safety``: 200, one candidate with ``finishReason: SAFETY``, no parts, ``safetyRatings`` with
  one ``blocked: true``. No exception; ``response.text is None``,
  ``candidates[0].finish_reason == FinishReason.SAFETY``.
* ``empty``: 200 with ``"candidates": []`` (derived). No exception; ``response.text is None``,
  ``response.candidates == []``.
* ``max_tokens``: 200, one candidate with ``finishReason: MAX_TOKENS`` and a content without parts
  (what thinking models send when the thinking used the whole budget). No exception;
  ``response.text is None``.
* ``cut_off``: 200, ``finishReason: MAX_TOKENS`` with the partial text. No exception;
  ``response.text`` is the partial text, so the finish reason must be checked.
* ``rate_limited``: 429 ``RESOURCE_EXHAUSTED`` (recorded body) with ``RetryInfo.retryDelay``.
  Raises ``google.genai.errors.ClientError`` with ``code == 429``,
  ``status == "RESOURCE_EXHAUSTED"``; the delay is in ``error.details["error"]["details"]``
  (the ``RetryInfo`` entry's ``retryDelay``, a string like ``"34.4s"``).
* ``server_error``: 500 ``INTERNAL`` or 503 ``UNAVAILABLE``. Raises
  ``google.genai.errors.ServerError`` with that ``code`` and ``status``.
* ``drop``: the connection is closed without an answer. Raises
  ``aiohttp.ServerDisconnectedError`` (an ``aiohttp.ClientError``, not a ``genai`` error).
* any mode with ``delay``: the answer comes ``delay`` seconds late; past ``HttpOptions.timeout``
  the SDK raises the built-in ``TimeoutError`` (aiohttp's total timeout), not a ``genai`` error.

Retries: with no ``retry_options`` the SDK does not retry HTTP errors (429 and 5xx come back at
once, one request), but on a connection error (``drop``, refused connection) it silently sleeps
1 to 10 s and tries once more. ``HttpRetryOptions(attempts=1)`` turns that hidden retry off, and
any ``retry_options`` makes the SDK's own tenacity loop retry 408/429/500/502/503/504 and
connection errors. The project's analyst should pass ``HttpRetryOptions(attempts=1)`` and do its
own bounded retries, honouring ``retryDelay``.

Every request is recorded (:class:`GeminiRequest`): model, API version, system instruction, prompt
text, generation config, and whether the key came in the ``x-goog-api-key`` header. The key is
kept for assertions and never logged.

As its own process: ``python -m tests.emulators.gemini --port 0`` prints ``READY <url>`` and is
driven through :class:`RemoteGemini` (HTTP under ``/_control/``).

Note:
    Token counts in ``usageMetadata`` are estimates (about four characters a token), not a real
    tokenizer's. Streaming (``streamGenerateContent``) and other methods answer 404.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import json
import logging
import math
import secrets
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.emulators.loopback import (
    CONTROL_PREFIX,
    ControlClient,
    LoopbackServer,
    drop_connection,
    json_response,
    run_cli,
)

logger = logging.getLogger(__name__)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "api" / "gemini"
OK_FIXTURE = "generateContent_ok_gemini-3-pro-preview.json"
BLOCKED_FIXTURE = "generateContent_prompt_blocked_PROHIBITED_CONTENT.json"
SAFETY_FIXTURE = "generateContent_finish_SAFETY_transcribed.json"
RATE_LIMIT_FIXTURE = "error_429_resource_exhausted.json"
CHARACTERS_PER_TOKEN = 4

# Google's wording for these errors as widely quoted in public reports; no recorded body of ours
# holds them, so they are written here in the envelope of the recorded 429.
SERVER_ERROR_MESSAGES = {
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}
MISSING_KEY_MESSAGE = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


@cache
def load_fixture(name: str) -> dict[str, Any]:
    """Return a recorded Gemini body from ``tests/fixtures/api/gemini``, parsed."""
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return loaded


def google_error(code: int, status: str, message: str, **extra: Any) -> dict[str, Any]:
    """Build an error body in Google's envelope, the one the recorded 429 uses."""
    return {"error": {"code": code, "message": message, "status": status, **extra}}


class Mode(StrEnum):
    """What a :class:`Reply` makes the emulator answer; see the module docstring."""

    ANSWER = "answer"
    BLOCKED = "blocked"
    SAFETY = "safety"
    EMPTY = "empty"
    MAX_TOKENS = "max_tokens"
    CUT_OFF = "cut_off"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    DROP = "drop"


@dataclass(frozen=True)
class Reply:
    """One answer to give: a mode, its details and an optional delay in seconds.

    Build replies with the class methods (``Reply.answer("...")``, ``Reply.rate_limited()``...)
    and delay any of them with :meth:`after`.

    Attributes:
        mode: What to answer.
        text: The answer (``answer``) or the partial answer (``cut_off``); ``None`` uses the
            recorded answer's text.
        thought: A thought part sent before the answer (``answer`` only).
        block_reason: ``promptFeedback.blockReason`` for ``blocked``.
        retry_delay: ``RetryInfo.retryDelay`` for ``rate_limited``, e.g. ``"34.4s"``.
        status: 500 or 503 for ``server_error``.
        delay: Seconds to wait before answering.
    """

    mode: Mode = Mode.ANSWER
    text: str | None = None
    thought: str | None = None
    block_reason: str = "PROHIBITED_CONTENT"
    retry_delay: str = "34.4s"
    status: int = 503
    delay: float = 0.0

    @classmethod
    def answer(cls, text: str | None = None, *, thought: str | None = None) -> Reply:
        """A normal answer (``finishReason: STOP``), optionally with a thought part first."""
        return cls(Mode.ANSWER, text=text, thought=thought)

    @classmethod
    def blocked(cls, block_reason: str = "PROHIBITED_CONTENT") -> Reply:
        """The prompt was blocked: no candidates, ``promptFeedback.blockReason``."""
        return cls(Mode.BLOCKED, block_reason=block_reason)

    @classmethod
    def safety(cls) -> Reply:
        """The answer was blocked: ``finishReason: SAFETY`` and no text."""
        return cls(Mode.SAFETY)

    @classmethod
    def empty(cls) -> Reply:
        """No candidates and no block reason."""
        return cls(Mode.EMPTY)

    @classmethod
    def max_tokens(cls) -> Reply:
        """``finishReason: MAX_TOKENS`` before any text."""
        return cls(Mode.MAX_TOKENS)

    @classmethod
    def cut_off(cls, text: str) -> Reply:
        """``finishReason: MAX_TOKENS`` after ``text``, an answer cut short."""
        return cls(Mode.CUT_OFF, text=text)

    @classmethod
    def rate_limited(cls, retry_delay: str = "34.4s") -> Reply:
        """HTTP 429 ``RESOURCE_EXHAUSTED`` with ``RetryInfo.retryDelay``."""
        return cls(Mode.RATE_LIMITED, retry_delay=retry_delay)

    @classmethod
    def server_error(cls, status: int = 503) -> Reply:
        """HTTP 500 ``INTERNAL`` or 503 ``UNAVAILABLE``."""
        if status not in SERVER_ERROR_MESSAGES:
            raise ValueError(f"server_error supports {sorted(SERVER_ERROR_MESSAGES)}")
        return cls(Mode.SERVER_ERROR, status=status)

    @classmethod
    def dropped(cls) -> Reply:
        """The connection is closed without an answer."""
        return cls(Mode.DROP)

    def after(self, seconds: float) -> Reply:
        """The same reply, sent ``seconds`` late."""
        return dataclasses.replace(self, delay=seconds)

    def to_json(self) -> dict[str, Any]:
        """Return the reply as JSON-ready data."""
        return {**dataclasses.asdict(self), "mode": str(self.mode)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        """Rebuild a reply from :meth:`to_json` output (missing fields take their defaults)."""
        return cls(**{**data, "mode": Mode(data.get("mode", Mode.ANSWER))})


@dataclass
class GeminiRequest:
    """One ``generateContent`` request the emulator received.

    Attributes:
        model: The model name from the URL (``gemini-2.5-flash``).
        api_version: The version segment of the URL (``v1``, ``v1beta``).
        system_instruction: The text of ``systemInstruction``, if any.
        prompt: The text of every part of every ``contents`` entry, joined by newlines.
        contents: ``contents`` as received.
        generation_config: ``generationConfig`` as received (``{}`` if absent).
        safety_settings: ``safetySettings`` as received.
        api_key: The key, from the header or the ``key`` query parameter; never logged.
        key_in_header: Whether the key came in the ``x-goog-api-key`` header.
        server_timeout: The ``X-Server-Timeout`` header the SDK derives from its timeout.
        reply: The mode that answered it.
        at: Unix time of arrival.
    """

    model: str
    api_version: str
    system_instruction: str | None
    prompt: str
    contents: list[Any]
    generation_config: dict[str, Any]
    safety_settings: list[Any]
    api_key: str | None
    key_in_header: bool
    server_timeout: str | None
    reply: str
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        """Return the record as JSON-ready data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GeminiRequest:
        """Rebuild a record from :meth:`to_json` output."""
        return cls(**data)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, dict):
        return []
    return [str(part["text"]) for part in content.get("parts", []) if "text" in part]


def estimate_tokens(text: str) -> int:
    """Estimate a token count at about four characters a token."""
    return math.ceil(len(text) / CHARACTERS_PER_TOKEN)


class FakeGemini(LoopbackServer):
    """The fake Gemini REST server; see the module docstring for its modes.

    Args:
        port: Port on 127.0.0.1; 0 picks a free one.
        api_key: When set, any other key is refused with Google's ``API_KEY_INVALID`` answer.
        known_models: When set, other models answer 404 ``NOT_FOUND``.
        default: The reply when the queue is empty (a normal answer if not given).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        api_key: str | None = None,
        known_models: list[str] | None = None,
        default: Reply | None = None,
    ) -> None:
        super().__init__(port=port)
        self.expected_api_key = api_key
        self.known_models = list(known_models) if known_models is not None else None
        self.default = default or Reply.answer()
        self._queue: deque[Reply] = deque()
        self._requests: list[GeminiRequest] = []
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()

    def enqueue(self, *replies: Reply) -> None:
        """Give these replies, in order, to the next requests; then :attr:`default` again."""
        self._queue.extend(replies)

    def clear_queue(self) -> None:
        """Drop the replies not yet given."""
        self._queue.clear()

    @property
    def queued(self) -> list[Reply]:
        """The replies not yet given."""
        return list(self._queue)

    def requests(self, model: str | None = None) -> list[GeminiRequest]:
        """Every request received, oldest first, optionally for one model only."""
        return [request for request in self._requests if model is None or request.model == model]

    async def wait_for_requests(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors FakeTelegram.wait_for_sent
    ) -> list[GeminiRequest]:
        """Wait until ``count`` requests have arrived.

        Raises:
            TimeoutError: Fewer arrived in ``timeout`` seconds.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self._requests) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._requests)} of {count} requests after {timeout} s")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue
        return list(self._requests)

    def reset(self) -> None:
        """Forget every request and queued reply; the default becomes a normal answer."""
        self._queue.clear()
        self._requests.clear()
        self.default = Reply.answer()

    # Server ------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Return the REST route and the ``/_control/`` routes."""
        app = web.Application()
        app.router.add_post("/{api_version}/models/{model_action}", self._handle_model_call)
        _GeminiControl(self).register(app)
        return app

    async def before_stop(self) -> None:
        """Cut every delayed answer short."""
        self._closing.set()

    async def _handle_model_call(self, request: web.Request) -> web.StreamResponse:
        model, _, action = request.match_info["model_action"].partition(":")
        api_version = request.match_info["api_version"]
        header_key = request.headers.get("x-goog-api-key")
        api_key = header_key or request.query.get("key")
        if action != "generateContent" or (
            self.known_models is not None and model not in self.known_models
        ):
            message = (
                f"models/{model} is not found for API version {api_version}, or is not "
                f"supported for {action or 'this method'}. Call ListModels to see the list of "
                "available models and their supported methods."
            )
            return json_response(google_error(404, "NOT_FOUND", message), 404)
        if not api_key:
            return json_response(google_error(403, "PERMISSION_DENIED", MISSING_KEY_MESSAGE), 403)
        if self.expected_api_key is not None and api_key != self.expected_api_key:
            return json_response(self._invalid_key_error(), 400)

        try:
            body = await request.json()
        except ValueError:
            error = google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            return json_response(error, 400)
        contents = body.get("contents") if isinstance(body, dict) else None
        if not contents:
            message = "* GenerateContentRequest.contents: contents is not specified\n"
            return json_response(google_error(400, "INVALID_ARGUMENT", message), 400)

        reply = self._queue.popleft() if self._queue else self.default
        recorded = self._record(body, model, api_version, api_key, header_key, request, reply)
        logger.debug("Gemini call for %s answered with %s", model, reply.mode)
        if reply.delay:
            await self._pause(reply.delay)
        if reply.mode is Mode.DROP:
            return drop_connection(request)
        status, payload = self._answer(reply, recorded)
        return json_response(payload, status)

    def _record(
        self,
        body: dict[str, Any],
        model: str,
        api_version: str,
        api_key: str,
        header_key: str | None,
        request: web.Request,
        reply: Reply,
    ) -> GeminiRequest:
        system = body.get("systemInstruction") or body.get("system_instruction")
        contents = body.get("contents") or []
        recorded = GeminiRequest(
            model=model,
            api_version=api_version,
            system_instruction="\n".join(_texts(system)) if system else None,
            prompt="\n".join(text for content in contents for text in _texts(content)),
            contents=copy.deepcopy(contents),
            generation_config=copy.deepcopy(body.get("generationConfig") or {}),
            safety_settings=copy.deepcopy(body.get("safetySettings") or []),
            api_key=api_key,
            key_in_header=header_key is not None,
            server_timeout=request.headers.get("X-Server-Timeout"),
            reply=str(reply.mode),
        )
        self._requests.append(recorded)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return recorded

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return

    @staticmethod
    def _invalid_key_error() -> dict[str, Any]:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
        message = "API key not valid. Please pass a valid API key."
        return google_error(400, "INVALID_ARGUMENT", message, details=details)

    def _answer(self, reply: Reply, request: GeminiRequest) -> tuple[int, dict[str, Any]]:
        if reply.mode is Mode.RATE_LIMITED:
            return 429, self._rate_limited_body(reply.retry_delay)
        if reply.mode is Mode.SERVER_ERROR:
            status, message = SERVER_ERROR_MESSAGES[reply.status]
            return reply.status, google_error(reply.status, status, message)
        if reply.mode is Mode.BLOCKED:
            body = copy.deepcopy(load_fixture(BLOCKED_FIXTURE))
            body["promptFeedback"]["blockReason"] = reply.block_reason
            return 200, self._with_usage(body, request, answer="", thought="")
        if reply.mode is Mode.SAFETY:
            body = copy.deepcopy(load_fixture(SAFETY_FIXTURE))
            return 200, self._with_usage(body, request, answer="", thought="")
        if reply.mode is Mode.EMPTY:
            return 200, self._with_usage({"candidates": []}, request, answer="", thought="")
        if reply.mode is Mode.MAX_TOKENS:
            return 200, self._max_tokens_body(request)
        return 200, self._text_body(reply, request)

    @staticmethod
    def _rate_limited_body(retry_delay: str) -> dict[str, Any]:
        body = copy.deepcopy(load_fixture(RATE_LIMIT_FIXTURE))
        for detail in body["error"]["details"]:
            if detail.get("@type", "").endswith("RetryInfo"):
                detail["retryDelay"] = retry_delay
        return body

    def _text_body(self, reply: Reply, request: GeminiRequest) -> dict[str, Any]:
        body = copy.deepcopy(load_fixture(OK_FIXTURE))
        candidate = body["candidates"][0]
        recorded_part = candidate["content"]["parts"][0]
        text = reply.text if reply.text is not None else recorded_part["text"]
        parts: list[dict[str, Any]] = []
        if reply.thought is not None and reply.mode is Mode.ANSWER:
            parts.append({"text": reply.thought, "thought": True})
        parts.append({"text": text, "thoughtSignature": recorded_part["thoughtSignature"]})
        candidate["content"]["parts"] = parts
        if reply.mode is Mode.CUT_OFF:
            candidate["finishReason"] = "MAX_TOKENS"
        return self._with_usage(body, request, answer=text, thought=reply.thought or "")

    def _max_tokens_body(self, request: GeminiRequest) -> dict[str, Any]:
        body = copy.deepcopy(load_fixture(OK_FIXTURE))
        candidate = body["candidates"][0]
        candidate["content"] = {"role": "model"}
        candidate["finishReason"] = "MAX_TOKENS"
        budget = request.generation_config.get("maxOutputTokens")
        thought = "x" * CHARACTERS_PER_TOKEN * int(budget or 0)
        return self._with_usage(body, request, answer="", thought=thought)

    @staticmethod
    def _with_usage(
        body: dict[str, Any], request: GeminiRequest, *, answer: str, thought: str
    ) -> dict[str, Any]:
        prompt_tokens = estimate_tokens(f"{request.system_instruction or ''}{request.prompt}")
        usage: dict[str, Any] = {
            "promptTokenCount": prompt_tokens,
            "totalTokenCount": prompt_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        }
        if answer:
            usage["candidatesTokenCount"] = estimate_tokens(answer)
            usage["totalTokenCount"] += usage["candidatesTokenCount"]
        if thought:
            usage["thoughtsTokenCount"] = estimate_tokens(thought)
            usage["totalTokenCount"] += usage["thoughtsTokenCount"]
        recorded_usage = body.get("usageMetadata") or {}
        if "serviceTier" in recorded_usage:
            usage["serviceTier"] = recorded_usage["serviceTier"]
        body["usageMetadata"] = usage
        body["modelVersion"] = request.model
        body["responseId"] = secrets.token_urlsafe(16)
        return body


class _GeminiControl:
    """The ``/_control/`` HTTP interface, so that another process can drive the emulator."""

    def __init__(self, gemini: FakeGemini) -> None:
        self.gemini = gemini

    def register(self, app: web.Application) -> None:
        routes = [
            ("GET", "health", self.health),
            ("POST", "enqueue", self.enqueue),
            ("DELETE", "queue", self.clear_queue),
            ("POST", "default", self.set_default),
            ("GET", "requests", self.requests),
            ("POST", "wait_for_requests", self.wait_for_requests),
            ("POST", "reset", self.reset),
        ]
        for http_method, name, handler in routes:
            app.router.add_route(http_method, f"{CONTROL_PREFIX}/{name}", self._guarded(handler))

    @staticmethod
    def _guarded(handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.Response:
            try:
                response: web.Response = await handler(request)
            except (KeyError, TypeError, ValueError) as error:
                return json_response({"error": f"{type(error).__name__}: {error}"}, 400)
            return response

        return guarded

    async def health(self, request: web.Request) -> web.Response:
        return json_response({"ok": True})

    async def enqueue(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.gemini.enqueue(*(Reply.from_json(item) for item in body["replies"]))
        return json_response({"queued": len(self.gemini.queued)})

    async def clear_queue(self, request: web.Request) -> web.Response:
        self.gemini.clear_queue()
        return json_response({"ok": True})

    async def set_default(self, request: web.Request) -> web.Response:
        self.gemini.default = Reply.from_json(await request.json())
        return json_response({"ok": True})

    async def requests(self, request: web.Request) -> web.Response:
        recorded = self.gemini.requests(request.query.get("model"))
        return json_response({"requests": [item.to_json() for item in recorded]})

    async def wait_for_requests(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            recorded = await self.gemini.wait_for_requests(
                int(body.get("count", 1)), float(body.get("timeout", 5.0))
            )
        except TimeoutError as error:
            return json_response({"error": str(error)}, 408)
        return json_response({"requests": [item.to_json() for item in recorded]})

    async def reset(self, request: web.Request) -> web.Response:
        self.gemini.reset()
        return json_response({"ok": True})


class RemoteGemini(ControlClient):
    """Drives a :class:`FakeGemini` in another process through ``/_control/``."""

    async def enqueue(self, *replies: Reply) -> None:
        """See :meth:`FakeGemini.enqueue`."""
        await self.call("POST", "enqueue", {"replies": [reply.to_json() for reply in replies]})

    async def clear_queue(self) -> None:
        """See :meth:`FakeGemini.clear_queue`."""
        await self.call("DELETE", "queue")

    async def set_default(self, reply: Reply) -> None:
        """Set :attr:`FakeGemini.default`."""
        await self.call("POST", "default", reply.to_json())

    async def requests(self, model: str | None = None) -> list[GeminiRequest]:
        """See :meth:`FakeGemini.requests`."""
        answer = await self.call("GET", "requests", {"model": model} if model else None)
        return [GeminiRequest.from_json(item) for item in answer["requests"]]

    async def wait_for_requests(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors FakeGemini.wait_for_requests
    ) -> list[GeminiRequest]:
        """See :meth:`FakeGemini.wait_for_requests`."""
        payload = {"count": count, "timeout": timeout}
        answer = await self.call("POST", "wait_for_requests", payload, time_limit=timeout + 5.0)
        return [GeminiRequest.from_json(item) for item in answer["requests"]]

    async def reset(self) -> None:
        """See :meth:`FakeGemini.reset`."""
        await self.call("POST", "reset")


def main(argv: list[str] | None = None) -> int:
    """Run the fake Gemini API until SIGTERM: ``python -m tests.emulators.gemini --port N``."""
    parser = argparse.ArgumentParser(description="A fake Gemini REST API on 127.0.0.1.")
    parser.add_argument("--api-key", default=None, help="the only key to accept (default: any)")
    parser.add_argument(
        "--model", action="append", default=None, help="a known model (repeat; default: any)"
    )

    def build(arguments: argparse.Namespace) -> LoopbackServer:
        return FakeGemini(
            port=arguments.port, api_key=arguments.api_key, known_models=arguments.model
        )

    return run_cli(build, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
