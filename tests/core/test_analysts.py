"""Tests for the built-in analyst and for how the Gemini analyst maps real responses.

Gemini responses are the recorded bodies in ``tests/fixtures/api/gemini`` turned into SDK
objects with ``GenerateContentResponse.model_validate``; variants are derived from them in
the tests and labelled so. The fake client only stands in for the network call: it has the
same ``aio.models.generate_content`` surface as ``google.genai.Client``. One test drives the
real SDK against a closed local port.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pydantic
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from core.analysis import Trend, TrendFacts, compute_facts
from core.analysts import (
    Analyst,
    AnalystAnswer,
    BuiltinAnalyst,
    GeminiAnalyst,
    build_gemini_client,
    describe_trend,
    gemini_http_options,
    response_text,
    retry_after_seconds,
)
from core.answers import check_answer
from core.candles import Candle
from core.errors import AnalystError
from core.numbers import format_pct, format_usd
from core.windows import parse_window
from tests.core.real_candles import ending_at

GEMINI = Path(__file__).resolve().parents[1] / "fixtures" / "api" / "gemini"
NEWEST_HOUR = datetime(2025, 11, 22, 23, tzinfo=UTC)
NEWEST_BITSTAMP_DAY = datetime(2025, 7, 4, tzinfo=UTC)
NBSP = "\u00a0"
NNBSP = "\u202f"

WEEK_ANSWER_EN = (
    "Over the last week, Bitcoin fell 11.2%, from $95,341 to $84,697. "
    "The market was volatile, with large price swings."
)


def body(name: str) -> dict[str, Any]:
    """A recorded Gemini body, as JSON."""
    loaded: dict[str, Any] = json.loads((GEMINI / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def response(data: dict[str, Any]) -> types.GenerateContentResponse:
    """Build the SDK response object from a JSON body."""
    return types.GenerateContentResponse.model_validate(data)


def ok_body_with(parts: list[dict[str, Any]], finish: str = "STOP") -> dict[str, Any]:
    """Derived: the recorded 200 body with its parts and finish reason replaced."""
    data = copy.deepcopy(body("generateContent_ok_gemini-3-pro-preview"))
    data["candidates"][0]["content"]["parts"] = parts
    data["candidates"][0]["finishReason"] = finish
    return data


class FakeModels:
    """Stands in for ``client.aio.models``: returns or raises what it was given."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.calls: list[dict[str, Any]] = []

    async def generate_content(
        self, *, model: str, contents: str, config: types.GenerateContentConfig
    ) -> types.GenerateContentResponse:
        self.calls.append({"model": model, "contents": contents, "config": config})
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        if callable(self.outcome):
            result: types.GenerateContentResponse = await self.outcome()
            return result
        return self.outcome  # type: ignore[no-any-return]


class FakeAio:
    def __init__(self, models: FakeModels) -> None:
        self.models = models


class FakeClient:
    def __init__(self, outcome: Any) -> None:
        self.aio = FakeAio(FakeModels(outcome))


@pytest.fixture
def week(hourly_candles: list[Candle]) -> list[Candle]:
    return ending_at(hourly_candles, NEWEST_HOUR, 168)


@pytest.fixture
def week_facts(week: list[Candle]) -> TrendFacts:
    return compute_facts(week, parse_window("7d"))


async def gemini_outcome(
    outcome: Any, facts: TrendFacts, candles: list[Candle], language: str = "en"
) -> AnalystAnswer:
    analyst = GeminiAnalyst(FakeClient(outcome), "gemini-2.5-flash", timeout_s=2)
    return await analyst.analyse(facts, candles, language)


async def gemini_failure(
    outcome: Any, facts: TrendFacts, candles: list[Candle], language: str = "en"
) -> AnalystError:
    with pytest.raises(AnalystError) as caught:
        await gemini_outcome(outcome, facts, candles, language)
    return caught.value


# The built-in analyst


async def test_builtin_explains_the_falling_week_in_english(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    answer = await BuiltinAnalyst().analyse(week_facts, week, "en")

    assert answer.text == (
        "Over the last 7 days, Bitcoin has gone down: it moved from $95,341 to $84,697 "
        "(-11.2%), with a low of $80,562 and a high of $96,575. The market was volatile, "
        "with large price swings, so the price can change quickly in either direction."
    )
    assert (answer.analyst, answer.model, answer.tokens_in, answer.tokens_out) == (
        "builtin",
        None,
        None,
        None,
    )
    assert answer.latency_s >= 0


async def test_builtin_explains_the_falling_week_in_french(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    answer = await BuiltinAnalyst().analyse(week_facts, week, "fr-FR")

    assert answer.text == (
        f"Sur les 7 derniers jours, le bitcoin est en baisse{NBSP}: il est passé de "
        f"95{NNBSP}341{NBSP}$ à 84{NNBSP}697{NBSP}$ (-11,2{NBSP}%), avec un plus bas à "
        f"80{NNBSP}562{NBSP}$ et un plus haut à 96{NNBSP}575{NBSP}$. Le marché a été agité, "
        f"avec de fortes variations{NBSP}: le prix peut changer vite dans un sens comme dans "
        "l'autre."
    )


def test_builtin_flat_day_in_both_languages(hourly_candles: list[Candle]) -> None:
    facts = compute_facts(ending_at(hourly_candles, NEWEST_HOUR, 24), parse_window("24h"))

    assert describe_trend(facts, "en") == (
        "Over the last 24 hours, Bitcoin has stayed fairly stable: it moved from $84,691 to "
        "$84,697 (+0.0%), with a low of $83,463 and a high of $85,562. The price swings were "
        "ordinary for Bitcoin, neither especially calm nor especially wild."
    )
    assert describe_trend(facts, "fr") == (
        f"Sur les 24 dernières heures, le bitcoin est resté plutôt stable{NBSP}: il est passé "
        f"de 84{NNBSP}691{NBSP}$ à 84{NNBSP}697{NBSP}$ (+0,0{NBSP}%), avec un plus bas à "
        f"83{NNBSP}463{NBSP}$ et un plus haut à 85{NNBSP}562{NBSP}$. Les variations de prix "
        "ont été habituelles pour le bitcoin, ni particulièrement calmes ni particulièrement "
        "agitées."
    )


def test_builtin_rising_year_and_calm_day(
    bitstamp_daily_candles: list[Candle], hourly_candles: list[Candle]
) -> None:
    year = compute_facts(
        ending_at(bitstamp_daily_candles, NEWEST_BITSTAMP_DAY, 365), parse_window("1y")
    )
    calm_day = compute_facts(
        ending_at(hourly_candles, datetime(2025, 11, 15, 23, tzinfo=UTC), 24),
        parse_window("24h"),
    )

    assert describe_trend(year, "en").startswith(
        "Over the last year, Bitcoin has gone up: it moved from $56,632 to $108,033 (+90.8%)"
    )
    assert describe_trend(year, "fr").startswith(
        f"Sur la dernière année, le bitcoin est en hausse{NBSP}: il est passé de "
        f"56{NNBSP}632{NBSP}$ à 108{NNBSP}033{NBSP}$ (+90,8{NBSP}%)"
    )
    assert describe_trend(calm_day, "en").endswith("The market was calm, with small price swings.")
    assert describe_trend(calm_day, "fr").endswith(
        "Le marché a été calme, avec de petites variations de prix."
    )


def test_builtin_direction_agrees_with_the_change_it_shows(
    hourly_candles: list[Candle],
) -> None:
    facts = compute_facts(
        ending_at(hourly_candles, datetime(2025, 10, 21, 23, tzinfo=UTC), 24),
        parse_window("24h"),
    )

    assert facts.trend == Trend.DOWN
    assert "Bitcoin has gone down: it moved from $110,504 to $109,056 (-1.3%)" in (
        describe_trend(facts, "en")
    )
    assert "le bitcoin est en baisse" in describe_trend(facts, "fr")


@pytest.mark.parametrize("label", ["3h", "6h", "24h", "7d", "14d", "30d"])
@pytest.mark.parametrize("language", ["en", "fr"])
def test_builtin_answers_pass_the_answer_checks_on_hourly_windows(
    hourly_candles: list[Candle], label: str, language: str
) -> None:
    window = parse_window(label)
    for days_back in range(0, 150, 7):
        newest = hourly_candles[-1 - days_back * 24].opened_at
        facts = compute_facts(ending_at(hourly_candles, newest, window.candle_count), window)

        text = describe_trend(facts, language)

        assert check_answer(text, facts, language) == text


@pytest.mark.parametrize("label", ["90d", "1y", "2y", "10y"])
@pytest.mark.parametrize("language", ["en", "fr"])
def test_builtin_answers_pass_the_answer_checks_on_daily_windows(
    bitstamp_daily_candles: list[Candle], label: str, language: str
) -> None:
    window = parse_window(label)
    facts = compute_facts(bitstamp_daily_candles[-window.candle_count :], window)

    text = describe_trend(facts, language)

    assert check_answer(text, facts, language) == text


@pytest.mark.parametrize(
    ("value", "english", "french"),
    [
        (104136.59, "$104,137", f"104{NNBSP}137{NBSP}$"),
        (376.28, "$376", f"376{NBSP}$"),
        (1000.0, "$1,000", f"1{NNBSP}000{NBSP}$"),
    ],
)
def test_format_usd(value: float, english: str, french: str) -> None:
    assert (format_usd(value, "en"), format_usd(value, "fr")) == (english, french)


@pytest.mark.parametrize(
    ("value", "english", "french"),
    [
        (1.5, "+1.5%", f"+1,5{NBSP}%"),
        (-11.164, "-11.2%", f"-11,2{NBSP}%"),
        (0.0076, "+0.0%", f"+0,0{NBSP}%"),
        (40002.8, "+40,003%", f"+40{NNBSP}003{NBSP}%"),
    ],
)
def test_format_pct(value: float, english: str, french: str) -> None:
    assert (format_pct(value, "en"), format_pct(value, "fr")) == (english, french)


def test_both_analysts_satisfy_the_protocol() -> None:
    analysts: list[Analyst] = [
        BuiltinAnalyst(),
        GeminiAnalyst(FakeClient(None), "gemini-2.5-flash", timeout_s=1),
    ]

    assert [analyst.name for analyst in analysts] == ["builtin", "gemini"]


# Gemini: responses


async def test_a_real_looking_answer_is_checked_and_returned(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    # Derived: the recorded 200 body with a market answer in place of its text.
    client = FakeClient(response(ok_body_with([{"text": f"**{WEEK_ANSWER_EN}**\n"}])))
    analyst = GeminiAnalyst(
        client, "gemini-2.5-flash", timeout_s=2, max_output_tokens=300, temperature=0.1
    )

    answer = await analyst.analyse(week_facts, week, "en")

    assert answer.text == WEEK_ANSWER_EN
    assert answer.analyst == "gemini"
    assert answer.model == "gemini-3-pro-preview"
    assert (answer.tokens_in, answer.tokens_out, answer.tokens_thinking) == (9, 28, 244)
    assert answer.latency_s >= 0
    call = client.aio.models.calls[0]
    assert call["model"] == "gemini-2.5-flash"
    assert "<data>" in call["contents"]
    assert call["config"].system_instruction.startswith("ROLE")
    assert (call["config"].max_output_tokens, call["config"].temperature) == (300, 0.1)
    assert call["config"].thinking_config is None


async def test_the_thinking_budget_is_passed_when_set(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    client = FakeClient(response(ok_body_with([{"text": WEEK_ANSWER_EN}])))
    analyst = GeminiAnalyst(client, "gemini-2.5-flash", timeout_s=2, thinking_budget=0)

    await analyst.analyse(week_facts, week, "en")

    assert client.aio.models.calls[0]["config"].thinking_config.thinking_budget == 0


async def test_the_recorded_answer_is_refused_by_the_checks(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    # The verbatim recorded body answers about strawberries: it states no market direction.
    error = await gemini_failure(
        response(body("generateContent_ok_gemini-3-pro-preview")), week_facts, week
    )

    assert error.reason == "rejected"
    assert error.detail.startswith("no_direction")


def test_the_recorded_text_is_extracted_whole() -> None:
    text = response_text(response(body("generateContent_ok_gemini-3-pro-preview")))

    assert text == (
        "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y."
    )


def test_thought_parts_are_left_out() -> None:
    # Derived: a thought part before the visible answer.
    data = ok_body_with(
        [{"text": "Let me think about buying advice.", "thought": True}, {"text": WEEK_ANSWER_EN}]
    )

    assert response_text(response(data)) == WEEK_ANSWER_EN


async def test_an_answer_contradicting_the_trend_is_rejected(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    # Derived: the recorded body with an answer that says "rising" for a falling week.
    data = ok_body_with([{"text": "Bitcoin has been rising this week. The market was calm."}])

    error = await gemini_failure(response(data), week_facts, week)

    assert (error.reason, error.detail.split(":")[0]) == ("rejected", "direction")


async def test_a_french_answer_is_accepted_for_a_french_user(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    text = (
        "Sur la semaine, le bitcoin a reculé de 11,2 %, de 95 341 $ à 84 697 $. "
        "Le marché a été agité."
    )
    answer = await gemini_outcome(response(ok_body_with([{"text": text}])), week_facts, week, "fr")

    assert answer.text == text


def test_the_recorded_blocked_body_needs_its_unknown_field_dropped() -> None:
    # SDK 3.6 models forbid unknown fields; its own receive path drops them first.
    with pytest.raises(pydantic.ValidationError):
        response(body("generateContent_prompt_blocked_PROHIBITED_CONTENT"))


async def test_a_blocked_prompt_is_blocked(week_facts: TrendFacts, week: list[Candle]) -> None:
    # Derived: the recorded blocked body without "usageMetadata.serviceTier", which the SDK
    # strips from real responses before validating them.
    data = body("generateContent_prompt_blocked_PROHIBITED_CONTENT")
    del data["usageMetadata"]["serviceTier"]

    error = await gemini_failure(response(data), week_facts, week)

    assert (error.reason, error.detail) == ("blocked", "prompt blocked: PROHIBITED_CONTENT")


async def test_a_safety_finish_is_safety(week_facts: TrendFacts, week: list[Candle]) -> None:
    error = await gemini_failure(
        response(body("generateContent_finish_SAFETY_transcribed")), week_facts, week
    )

    assert (error.reason, error.detail) == ("safety", "finish SAFETY")


def test_a_safety_finish_with_some_text_is_still_safety() -> None:
    # Derived: the recorded body cut by a safety finish after a whole sentence.
    data = ok_body_with([{"text": "Bitcoin fell 11.2% this week. Then"}], finish="SAFETY")

    with pytest.raises(AnalystError) as caught:
        response_text(response(data))

    assert caught.value.reason == "safety"


def test_another_finish_keeps_whole_sentences_or_is_safety() -> None:
    # Derived: the recorded body ending with RECITATION.
    kept = ok_body_with([{"text": "Bitcoin fell 11.2% this week. The mar"}], finish="RECITATION")
    lost = ok_body_with([{"text": "Bitcoin fell 11.2% this"}], finish="RECITATION")

    assert response_text(response(kept)) == "Bitcoin fell 11.2% this week."
    with pytest.raises(AnalystError) as caught:
        response_text(response(lost))
    assert (caught.value.reason, caught.value.detail) == (
        "safety",
        "finish RECITATION with no whole sentence",
    )


async def test_no_candidate_is_empty(week_facts: TrendFacts, week: list[Candle]) -> None:
    # Derived: the recorded 200 body with an empty candidate list.
    data = body("generateContent_ok_gemini-3-pro-preview")
    data["candidates"] = []

    error = await gemini_failure(response(data), week_facts, week)

    assert (error.reason, error.detail) == ("empty", "no candidate")


def test_a_stop_with_only_thoughts_is_empty() -> None:
    # Derived: only a thought part, and a part without text.
    data = ok_body_with([{"text": "thinking", "thought": True}, {"thoughtSignature": "RXQ="}])

    with pytest.raises(AnalystError) as caught:
        response_text(response(data))

    assert (caught.value.reason, caught.value.detail) == ("empty", "no visible text")


async def test_max_tokens_keeps_the_whole_sentences(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    # Derived: the recorded body cut by the output limit in its second sentence.
    data = ok_body_with(
        [{"text": "Bitcoin fell 11.2% this week, to $84,697. The market was very vol"}],
        finish="MAX_TOKENS",
    )

    answer = await gemini_outcome(response(data), week_facts, week)

    assert answer.text == "Bitcoin fell 11.2% this week, to $84,697."


async def test_max_tokens_before_a_whole_sentence(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    data = ok_body_with([{"text": "Bitcoin fell 11.2% this"}], finish="MAX_TOKENS")

    error = await gemini_failure(response(data), week_facts, week)

    assert error.reason == "max_tokens"


# Gemini: errors


async def test_a_429_is_rate_limited_with_the_retry_delay(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    raised = genai_errors.ClientError(429, body("error_429_resource_exhausted"))

    error = await gemini_failure(raised, week_facts, week)

    assert (error.reason, error.retry_after) == ("rate_limited", 34.4)
    assert error.detail == "HTTP 429 RESOURCE_EXHAUSTED"
    assert error.__cause__ is raised


def test_retry_delay_falls_back_to_the_retry_after_header() -> None:
    # Derived: the recorded 429 body without its RetryInfo, sent with a Retry-After header.
    data = body("error_429_resource_exhausted")
    data["error"]["details"] = data["error"]["details"][:1]
    raised = genai_errors.ClientError(
        429, data, httpx.Response(429, headers={"Retry-After": "12"}, json=data)
    )

    assert retry_after_seconds(raised) == 12.0


def test_retry_delay_is_none_when_nothing_says_it() -> None:
    data = body("error_429_resource_exhausted")
    data["error"]["details"] = []

    assert retry_after_seconds(genai_errors.ClientError(429, data)) is None
    assert retry_after_seconds(genai_errors.ClientError(429, ["not", "a", "dict"])) is None


def derived_error_body(code: int, status: str) -> dict[str, Any]:
    """Derived: the recorded 429 body with another code and status, and no details."""
    data = body("error_429_resource_exhausted")
    data["error"].update(code=code, status=status, message="derived", details=[])
    return data


@pytest.mark.parametrize(
    ("raised", "reason", "detail"),
    [
        (
            genai_errors.ClientError(400, derived_error_body(400, "INVALID_ARGUMENT")),
            "client_error",
            "HTTP 400 INVALID_ARGUMENT",
        ),
        (
            genai_errors.ClientError(403, derived_error_body(403, "PERMISSION_DENIED")),
            "client_error",
            "HTTP 403 PERMISSION_DENIED",
        ),
        (
            genai_errors.ServerError(503, derived_error_body(503, "UNAVAILABLE")),
            "server_error",
            "HTTP 503 UNAVAILABLE",
        ),
        (
            genai_errors.ServerError(500, derived_error_body(500, "INTERNAL")),
            "server_error",
            "HTTP 500 INTERNAL",
        ),
        (
            genai_errors.UnknownApiResponseError("not JSON"),
            "server_error",
            "unreadable response body",
        ),
        (httpx.ConnectError("refused"), "network", "ConnectError"),
        (httpx.ReadTimeout("slow"), "timeout", "ReadTimeout"),
        (aiohttp.ServerDisconnectedError(), "network", "ServerDisconnectedError"),
        (aiohttp.ClientPayloadError("cut"), "network", "ClientPayloadError"),
        (ConnectionResetError(104, "reset"), "network", "ConnectionResetError"),
        (TimeoutError(), "timeout", "no answer within 2 s"),
    ],
)
async def test_errors_are_translated(
    week_facts: TrendFacts, week: list[Candle], raised: Exception, reason: str, detail: str
) -> None:
    error = await gemini_failure(raised, week_facts, week)

    assert (error.reason, error.detail) == (reason, detail)
    assert error.__cause__ is raised


async def test_our_own_timeout_stops_a_slow_call(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    async def never_answers() -> types.GenerateContentResponse:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    analyst = GeminiAnalyst(FakeClient(never_answers), "gemini-2.5-flash", timeout_s=0.05)
    started = time.perf_counter()

    with pytest.raises(AnalystError) as caught:
        await analyst.analyse(week_facts, week, "en")

    assert caught.value.reason == "timeout"
    assert time.perf_counter() - started < 1


async def test_cancellation_is_not_swallowed(week_facts: TrendFacts, week: list[Candle]) -> None:
    started = asyncio.Event()

    async def never_answers() -> types.GenerateContentResponse:
        started.set()
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    analyst = GeminiAnalyst(FakeClient(never_answers), "gemini-2.5-flash", timeout_s=10)
    task = asyncio.create_task(analyst.analyse(week_facts, week, "en"))
    await started.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


async def test_failures_are_logged_without_the_answer_text(
    week_facts: TrendFacts, week: list[Candle], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Bitcoin has been rising this week. The market was calm."

    with caplog.at_level(logging.WARNING, logger="core.analysts"):
        await gemini_failure(response(ok_body_with([{"text": secret}])), week_facts, week)

    assert "rejected" in caplog.text
    assert "rising" not in caplog.text


# Gemini: the real SDK client


def test_http_options_turn_sdk_retries_off() -> None:
    options = gemini_http_options(
        timeout_s=7.5, base_url="http://127.0.0.1:9", headers={"x-test": "1"}
    )

    assert options.timeout == 7500
    assert options.retry_options is not None
    assert options.retry_options.attempts == 1
    assert (options.base_url, options.headers) == ("http://127.0.0.1:9", {"x-test": "1"})


async def test_real_sdk_refused_connection_is_network_and_not_retried(
    week_facts: TrendFacts, week: list[Candle]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now, so the connection is refused at once.
    client = build_gemini_client("test-key", timeout_s=5, base_url=f"http://127.0.0.1:{port}")
    analyst = GeminiAnalyst(client, "gemini-2.5-flash", timeout_s=5)
    started = time.perf_counter()

    try:
        with pytest.raises(AnalystError) as caught:
            await analyst.analyse(week_facts, week, "en")
    finally:
        await client.aio.aclose()

    assert caught.value.reason == "network"
    # Without retry_options the SDK's aiohttp path sleeps 1 to 10 s and tries again.
    assert time.perf_counter() - started < 0.9
