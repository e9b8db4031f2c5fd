"""The analysts that explain a window's trend: the built-in writer and Gemini.

Every analyst answers the same question from the same :class:`~core.analysis.TrendFacts`:
where did the price go over the window, and how calm was the market? The built-in analyst
writes its two sentences from the facts alone, with no network, and never fails; the
Gemini analyst asks Google's model and turns every failure into an
:class:`~core.errors.AnalystError` so the caller can fall back on the built-in one.

Gemini failures and their ``reason``:

=================  ==================================================================
reason             when
=================  ==================================================================
``blocked``        the prompt was blocked (``promptFeedback.blockReason``)
``safety``         a safety finish (SAFETY, BLOCKLIST, PROHIBITED_CONTENT, SPII...),
                   or another finish that is neither STOP nor MAX_TOKENS and left no
                   whole sentence
``empty``          no candidate, or a STOP finish with no visible text
``max_tokens``     cut by the output limit before a whole sentence was written
``rate_limited``   HTTP 429; ``retry_after`` from ``RetryInfo.retryDelay`` or
                   ``Retry-After``
``client_error``   any other 4xx (bad key, bad model name, bad request)
``server_error``   a 5xx, or a body the SDK could not read
``timeout``        our ``asyncio.timeout`` or the SDK's own timeout expired
``network``        the connection failed (refused, reset, DNS)
``rejected``       the text failed :func:`core.answers.check_answer`
=================  ==================================================================

Note:
    Retries belong to the caller. In google-genai 3.6, ``HttpOptions.retry_options=None``
    makes tenacity stop after one attempt, but the aiohttp transport (used whenever aiohttp
    is installed) then still sleeps 1 to 10 seconds and tries once more after a connection
    error. Only an explicit ``HttpRetryOptions(attempts=1)`` turns both off, which is what
    :func:`gemini_http_options` sets.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from core.analysis import Trend, TrendFacts, VolatilityLabel
from core.answers import check_answer, clean_answer, trim_to_sentences
from core.candles import Candle
from core.errors import AnalystError
from core.languages import FRENCH, resolve_language
from core.numbers import NARROW_NO_BREAK, NO_BREAK, format_pct, format_usd
from core.prompts import ANSWER_MAX_CHARS, build_analyst_prompt
from core.windows import Window

try:
    import aiohttp

    _AIOHTTP_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError,)
except ImportError:  # aiohttp is optional: the SDK then uses httpx
    _AIOHTTP_ERRORS = ()

logger = logging.getLogger(__name__)

_SAFETY_FINISHES = frozenset(
    {
        types.FinishReason.SAFETY,
        types.FinishReason.BLOCKLIST,
        types.FinishReason.PROHIBITED_CONTENT,
        types.FinishReason.SPII,
        types.FinishReason.IMAGE_SAFETY,
        types.FinishReason.IMAGE_PROHIBITED_CONTENT,
        types.FinishReason.MODEL_ARMOR,
    }
)
_NETWORK_ERRORS: tuple[type[Exception], ...] = (*_AIOHTTP_ERRORS, httpx.TransportError, OSError)
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


@dataclass(frozen=True, slots=True)
class AnalystAnswer:
    """An analyst's checked answer and what it cost.

    Attributes:
        text: The two sentences to show, already checked and cleaned.
        analyst: The analyst's name (``builtin``, ``gemini``...).
        model: The model that wrote it (as the service reports it), None for the built-in.
        tokens_in: Prompt tokens, when known.
        tokens_out: Answer tokens (thinking excluded), when known.
        tokens_thinking: Thinking tokens, when the model reports them.
        latency_s: Seconds spent producing the answer.
    """

    text: str
    analyst: str
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_thinking: int | None = None
    latency_s: float = 0.0


class Analyst(Protocol):
    """Anything that explains a window's trend in two sentences."""

    name: str

    async def analyse(
        self, facts: TrendFacts, candles: Sequence[Candle], language: str
    ) -> AnalystAnswer:
        """Explain the facts of a window in the user's language.

        Args:
            facts: The computed facts.
            candles: The window's candles, oldest first.
            language: The user's language code (French codes give French, others English).

        Raises:
            AnalystError: No usable answer could be had.
        """
        ...


class BuiltinAnalyst:
    """Writes two plain sentences from the facts, with no network and no randomness."""

    name: str = "builtin"

    async def analyse(
        self, facts: TrendFacts, candles: Sequence[Candle], language: str
    ) -> AnalystAnswer:
        """Explain the facts in two sentences; see :func:`describe_trend`."""
        started = time.perf_counter()
        text = describe_trend(facts, language)
        return AnalystAnswer(text=text, analyst=self.name, latency_s=time.perf_counter() - started)


def describe_trend(facts: TrendFacts, language: str) -> str:
    """Write the built-in two-sentence explanation of a window's facts.

    The first sentence gives the direction, the first and last prices with the change in
    percent, and the lowest and highest prices; the second puts the volatility into words.

    Args:
        facts: The computed facts.
        language: The user's language code; French codes give French, others English.
    """
    if resolve_language(language) == FRENCH:
        return f"{_trend_sentence_fr(facts)} {_VOLATILITY_FR[facts.volatility_label]}"
    return f"{_trend_sentence_en(facts)} {_VOLATILITY_EN[facts.volatility_label]}"


def _trend_sentence_en(facts: TrendFacts) -> str:
    """The English sentence on the direction and the price levels."""
    if facts.trend is Trend.UP:
        verb = "has gone up"
    elif facts.trend is Trend.DOWN:
        verb = "has gone down"
    else:
        verb = "has stayed fairly stable"
    return (
        f"Over {_window_en(facts.window)}, Bitcoin {verb}: it moved from "
        f"{format_usd(facts.first_close, 'en')} to {format_usd(facts.last_close, 'en')} "
        f"({format_pct(facts.change_pct, 'en')}), with a low of {format_usd(facts.low, 'en')} "
        f"and a high of {format_usd(facts.high, 'en')}."
    )


def _trend_sentence_fr(facts: TrendFacts) -> str:
    """The French sentence on the direction and the price levels."""
    if facts.trend is Trend.UP:
        verb = "est en hausse"
    elif facts.trend is Trend.DOWN:
        verb = "est en baisse"
    else:
        verb = "est resté plutôt stable"
    return (
        f"Sur {_window_fr(facts.window)}, le bitcoin {verb}{NO_BREAK}: il est passé de "
        f"{format_usd(facts.first_close, 'fr')} à {format_usd(facts.last_close, 'fr')} "
        f"({format_pct(facts.change_pct, 'fr')}), avec un plus bas à "
        f"{format_usd(facts.low, 'fr')} et un plus haut à {format_usd(facts.high, 'fr')}."
    )


def _window_en(window: Window) -> str:
    """Name a window in English: "the last 24 hours", "the last year"."""
    singular, plural = {"h": ("hour", "hours"), "d": ("day", "days"), "y": ("year", "years")}[
        window.unit
    ]
    if window.amount == 1:
        return f"the last {singular}"
    return f"the last {window.amount:,} {plural}"


def _window_fr(window: Window) -> str:
    """Name a window in French: "les 24 dernières heures", "la dernière année"."""
    amount = f"{window.amount:,}".replace(",", NARROW_NO_BREAK)
    if window.unit == "h":
        return "la dernière heure" if window.amount == 1 else f"les {amount} dernières heures"
    if window.unit == "d":
        return "le dernier jour" if window.amount == 1 else f"les {amount} derniers jours"
    return "la dernière année" if window.amount == 1 else f"les {amount} dernières années"


_VOLATILITY_EN = {
    VolatilityLabel.CALM: "The market was calm, with small price swings.",
    VolatilityLabel.NORMAL: (
        "The price swings were ordinary for Bitcoin, neither especially calm nor especially wild."
    ),
    VolatilityLabel.VOLATILE: (
        "The market was volatile, with large price swings, so the price can change quickly "
        "in either direction."
    ),
}

_VOLATILITY_FR = {
    VolatilityLabel.CALM: "Le marché a été calme, avec de petites variations de prix.",
    VolatilityLabel.NORMAL: (
        "Les variations de prix ont été habituelles pour le bitcoin, ni particulièrement "
        "calmes ni particulièrement agitées."
    ),
    VolatilityLabel.VOLATILE: (
        f"Le marché a été agité, avec de fortes variations{NO_BREAK}: le prix peut changer "
        "vite dans un sens comme dans l'autre."
    ),
}


class _AsyncModels(Protocol):
    """The part of ``client.aio.models`` the Gemini analyst calls."""

    async def generate_content(
        self, *, model: str, contents: str, config: types.GenerateContentConfig
    ) -> types.GenerateContentResponse: ...


class _AsyncClient(Protocol):
    """The part of ``client.aio`` the Gemini analyst uses."""

    @property
    def models(self) -> _AsyncModels:
        """The models service."""
        ...


class GeminiClient(Protocol):
    """The part of ``google.genai.Client`` the Gemini analyst uses."""

    @property
    def aio(self) -> _AsyncClient:
        """The asynchronous side of the client."""
        ...


def gemini_http_options(
    *,
    timeout_s: float,
    base_url: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> types.HttpOptions:
    """Build the SDK's HTTP options: a timeout and no SDK retries (ours rule).

    Args:
        timeout_s: The SDK's own per-request timeout, in seconds (sent in milliseconds).
        base_url: Another endpoint (a local emulator in tests); None for Google's.
        headers: Extra headers to send with every request.
    """
    return types.HttpOptions(
        base_url=base_url,
        timeout=math.ceil(timeout_s * 1000),
        headers=dict(headers) if headers else None,
        retry_options=types.HttpRetryOptions(attempts=1),
    )


def build_gemini_client(
    api_key: str, *, timeout_s: float, base_url: str | None = None
) -> genai.Client:
    """Build the one google-genai client the application shares, retries off.

    The SDK sends the key in the ``x-goog-api-key`` header, never in the address.

    Args:
        api_key: The Gemini API key.
        timeout_s: The SDK's per-request timeout, in seconds.
        base_url: Another endpoint (a local emulator in tests); None for Google's.
    """
    options = gemini_http_options(timeout_s=timeout_s, base_url=base_url)
    return genai.Client(api_key=api_key, http_options=options)


class GeminiAnalyst:
    """Asks a Gemini model for the two sentences, then checks them.

    Args:
        client: The shared google-genai client (see :func:`build_gemini_client`).
        model: The model name, such as ``gemini-2.5-flash``.
        timeout_s: The most seconds one call may take, enforced with ``asyncio.timeout``
            on top of the SDK's own timeout.
        max_output_tokens: The output limit; thinking models spend part of it on thoughts.
        temperature: The sampling temperature; low keeps the wording sober.
        thinking_budget: Thinking tokens allowed, when the model supports the setting
            (0 turns thinking off on Gemini 2.5 Flash); None leaves the model's default.
        max_chars: The longest answer accepted.
        name: The analyst's name in answers and logs.
    """

    def __init__(
        self,
        client: GeminiClient,
        model: str,
        *,
        timeout_s: float,
        max_output_tokens: int = 1024,
        temperature: float = 0.2,
        thinking_budget: int | None = None,
        max_chars: int = ANSWER_MAX_CHARS,
        name: str = "gemini",
    ) -> None:
        self.name = name
        self._client = client
        self._model = model
        self._timeout_s = timeout_s
        self._max_output_tokens = max_output_tokens
        self._temperature = temperature
        self._thinking_budget = thinking_budget
        self._max_chars = max_chars

    async def analyse(
        self, facts: TrendFacts, candles: Sequence[Candle], language: str
    ) -> AnalystAnswer:
        """Ask the model about the window and return its checked answer.

        Raises:
            AnalystError: With one of the reasons in the module docstring.
        """
        prompt = build_analyst_prompt(facts, candles, language)
        started = time.perf_counter()
        try:
            response = await self._generate(prompt.system, prompt.user)
        except AnalystError as error:
            logger.warning("Gemini gave no usable answer: %s (%s)", error.reason, error.detail)
            raise

        usage = response.usage_metadata
        try:
            text = response_text(response)
            checked = check_answer(text, facts, prompt.language, max_chars=self._max_chars)
        except AnalystError as error:
            # An answer we refuse was still paid for: its tokens go with the error.
            error.tokens_in = (usage.prompt_token_count or 0) if usage else 0
            error.tokens_out = (usage.candidates_token_count or 0) if usage else 0
            logger.warning("Gemini gave no usable answer: %s (%s)", error.reason, error.detail)
            raise

        latency = time.perf_counter() - started
        answer = AnalystAnswer(
            text=checked,
            analyst=self.name,
            model=response.model_version or self._model,
            tokens_in=usage.prompt_token_count if usage else None,
            tokens_out=usage.candidates_token_count if usage else None,
            tokens_thinking=usage.thoughts_token_count if usage else None,
            latency_s=latency,
        )
        logger.info(
            "Gemini answered in %.2f s (%s tokens in, %s out)",
            latency,
            answer.tokens_in,
            answer.tokens_out,
        )
        return answer

    async def _generate(self, system: str, user: str) -> types.GenerateContentResponse:
        """Make the one call, translating every failure into an AnalystError."""
        config = types.GenerateContentConfig(
            system_instruction=system,
            max_output_tokens=self._max_output_tokens,
            temperature=self._temperature,
            candidate_count=1,
            thinking_config=(
                types.ThinkingConfig(thinking_budget=self._thinking_budget)
                if self._thinking_budget is not None
                else None
            ),
        )
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._client.aio.models.generate_content(
                    model=self._model, contents=user, config=config
                )
        except TimeoutError as exc:
            raise AnalystError("timeout", f"no answer within {self._timeout_s:g} s") from exc
        except genai_errors.ClientError as exc:
            raise _client_error(exc) from exc
        except genai_errors.ServerError as exc:
            raise AnalystError("server_error", f"HTTP {exc.code} {exc.status}") from exc
        except genai_errors.APIError as exc:
            raise AnalystError("server_error", f"HTTP {exc.code} {exc.status}") from exc
        except genai_errors.UnknownApiResponseError as exc:
            raise AnalystError("server_error", "unreadable response body") from exc
        except httpx.TimeoutException as exc:
            raise AnalystError("timeout", type(exc).__name__) from exc
        except _NETWORK_ERRORS as exc:
            raise AnalystError("network", type(exc).__name__) from exc


def response_text(response: types.GenerateContentResponse) -> str:
    """Take the visible text out of a Gemini response, or raise the reason there is none.

    Only the first candidate's non-thought text parts are read. A MAX_TOKENS finish keeps
    its whole sentences; a finish other than STOP and MAX_TOKENS keeps them too unless it
    is a safety finish.

    Raises:
        AnalystError: ``blocked``, ``safety``, ``empty`` or ``max_tokens``.
    """
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        raise AnalystError("blocked", f"prompt blocked: {_enum_name(feedback.block_reason)}")
    if not response.candidates:
        raise AnalystError("empty", "no candidate")

    candidate = response.candidates[0]
    finish = candidate.finish_reason
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(part.text for part in parts if part.text and not part.thought)

    if finish in _SAFETY_FINISHES:
        raise AnalystError("safety", f"finish {_enum_name(finish)}")
    if finish is None or finish == types.FinishReason.STOP:
        if not clean_answer(text):
            raise AnalystError("empty", "no visible text")
        return text

    whole = trim_to_sentences(clean_answer(text))
    if whole:
        return whole
    if finish == types.FinishReason.MAX_TOKENS:
        raise AnalystError("max_tokens", "cut before a whole sentence")
    raise AnalystError("safety", f"finish {_enum_name(finish)} with no whole sentence")


def _client_error(exc: genai_errors.ClientError) -> AnalystError:
    """Translate a 4xx: 429 becomes ``rate_limited`` with its delay, others ``client_error``."""
    if exc.code == 429:
        return AnalystError(
            "rate_limited", f"HTTP 429 {exc.status}", retry_after=retry_after_seconds(exc)
        )
    return AnalystError("client_error", f"HTTP {exc.code} {exc.status}")


def retry_after_seconds(exc: genai_errors.APIError) -> float | None:
    """Read how long Google asked us to wait: ``RetryInfo.retryDelay``, else Retry-After.

    Args:
        exc: The SDK error, whose ``details`` hold the error body.

    Returns:
        The delay in seconds, or None when the error says nothing usable.
    """
    body: Any = exc.details
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for item in details if isinstance(details, list) else []:
        if isinstance(item, dict) and item.get("@type") == _RETRY_INFO_TYPE:
            delay = _duration_seconds(item.get("retryDelay"))
            if delay is not None:
                return delay

    headers = getattr(exc.response, "headers", None)
    header = headers.get("retry-after") if headers is not None else None
    return _duration_seconds(header)


def _duration_seconds(value: object) -> float | None:
    """Read a protobuf Duration ("34.4s", {"seconds": 34}) or plain seconds ("34")."""
    if isinstance(value, dict):
        seconds = value.get("seconds", 0)
        nanos = value.get("nanos", 0)
        value = f"{seconds}.{int(nanos):09d}" if nanos else str(seconds)
    if not isinstance(value, str | int | float):
        return None
    text = str(value).strip().removesuffix("s")
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _enum_name(value: object) -> str:
    """The name of an SDK enum value, or its text when the SDK kept an unknown string."""
    return str(getattr(value, "name", value))
