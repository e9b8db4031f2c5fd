"""/trend's service through the real google-genai client against the local fake Gemini."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from core.analysis import Trend, TrendFacts, compute_facts
from core.candles import SYMBOL
from core.runtime import Runtime
from core.settings import Settings, load_settings
from core.windows import parse_window
from storage.repositories import PriceRepository
from tests.emulators.gemini import FakeGemini, Reply
from tests.support.clock import FakeClock

GEMINI_KEY = "test-gemini-key-0123456789"
NOW = datetime(2025, 11, 23, 6, tzinfo=UTC)

WORDS = {
    Trend.UP: "went up",
    Trend.DOWN: "went down",
    Trend.FLAT: "stayed flat",
}


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=GEMINI_KEY) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def runtime(
    seeded_settings: Settings, gemini: FakeGemini, clock: FakeClock
) -> AsyncIterator[Runtime]:
    settings = load_settings(
        data_dir=seeded_settings.data_dir,
        gemini_api_key=GEMINI_KEY,
        google_gemini_base_url=gemini.url,
        gemini_timeout_seconds=2.0,
        trend_deadline_seconds=3.0,
    )
    runtime = await Runtime.start(settings, clock=clock)
    yield runtime
    await runtime.close()


async def facts_for(runtime: Runtime, argument: str) -> TrendFacts:
    window = parse_window(argument)
    candles = await PriceRepository(runtime.database).window(
        SYMBOL, window.interval, window.duration
    )
    return compute_facts(candles, window)


def good_answer(facts: TrendFacts) -> str:
    return (
        f"Over the past week the price of Bitcoin {WORDS[facts.trend]} overall. "
        "Prices moved a fair amount from day to day, which is normal for Bitcoin."
    )


async def test_gemini_answers_once_then_the_cache_serves(
    runtime: Runtime, gemini: FakeGemini
) -> None:
    facts = await facts_for(runtime, "7d")
    gemini.enqueue(Reply.answer(good_answer(facts), thought="Let me think about slopes."))

    first = await runtime.trends.trend("7d", "en")
    second = await runtime.trends.trend("7d", "en")

    assert (first.origin, first.text) == ("gemini", good_answer(facts))
    assert "slopes" not in first.text
    assert (second.origin, second.text) == ("cache", good_answer(facts))
    (request,) = gemini.requests()
    assert request.key_in_header is True
    assert runtime.stats.llm_calls == 1
    assert runtime.stats.llm_cache_hits == 1
    assert runtime.stats.llm_tokens_in > 0


async def test_the_prompt_keeps_role_data_question_and_format(
    runtime: Runtime, gemini: FakeGemini
) -> None:
    facts = await facts_for(runtime, "7d")

    await runtime.trends.trend("7d", "fr")

    (request,) = gemini.requests()
    prompt = f"{request.system_instruction}\n{request.prompt}".lower()
    assert "analyst" in prompt or "analyste" in prompt
    assert "beginner" in prompt or "débutant" in prompt
    assert "two sentences" in prompt or "deux phrases" in prompt
    assert "french" in prompt or "français" in prompt
    assert f"| {round(facts.last_close)}\n" in request.prompt
    assert request.prompt.startswith("<data>")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply.blocked(), "blocked"),
        (Reply.safety(), "safety"),
        (Reply.empty(), "empty"),
        (Reply.max_tokens(), "max_tokens"),
    ],
)
async def test_unusable_answers_fall_back_to_the_builtin_analyst(
    runtime: Runtime, gemini: FakeGemini, reply: Reply, reason: str
) -> None:
    gemini.enqueue(reply)

    report = await runtime.trends.trend("24h", "en")

    assert (report.origin, report.fallback_reason) == ("builtin", reason)
    assert report.text.count(". ") <= 1
    assert len(gemini.requests()) == 1


async def test_an_answer_with_the_wrong_direction_is_rejected(
    runtime: Runtime, gemini: FakeGemini
) -> None:
    facts = await facts_for(runtime, "7d")
    wrong = Trend.DOWN if facts.trend is Trend.UP else Trend.UP
    gemini.enqueue(
        Reply.answer(f"Over the past week Bitcoin clearly {WORDS[wrong]}. It was calm.")
    )

    report = await runtime.trends.trend("7d", "en")

    assert (report.origin, report.fallback_reason) == ("builtin", "rejected")
    # A refused answer was still paid for: its tokens count.
    assert runtime.stats.llm_tokens_in > 0


async def test_a_server_error_is_retried_and_gemini_then_answers(
    runtime: Runtime, gemini: FakeGemini
) -> None:
    facts = await facts_for(runtime, "7d")
    gemini.enqueue(Reply.server_error(503), Reply.answer(good_answer(facts)))

    report = await runtime.trends.trend("7d", "en")

    assert report.origin == "gemini"
    assert len(gemini.requests()) == 2
    assert runtime.stats.llm_failures == {"server_error": 1}


async def test_a_429_rests_gemini_for_the_delay_it_asked_for(
    runtime: Runtime, gemini: FakeGemini, clock: FakeClock
) -> None:
    facts = await facts_for(runtime, "7d")
    gemini.enqueue(Reply.rate_limited("34.4s"))

    limited = await runtime.trends.trend("7d", "en")
    clock.advance(seconds=30)
    resting = await runtime.trends.trend("7d", "en")
    status = await runtime.status.status()
    clock.advance(seconds=5)
    gemini.enqueue(Reply.answer(good_answer(facts)))
    recovered = await runtime.trends.trend("7d", "en")

    assert (limited.origin, limited.fallback_reason) == ("builtin", "rate_limited")
    assert (resting.origin, resting.fallback_reason) == ("builtin", "circuit_open")
    assert status.llm_resting_until == NOW + timedelta(seconds=34.4)
    assert recovered.origin == "gemini"
    assert len(gemini.requests()) == 2


async def test_a_slow_gemini_is_abandoned_at_the_deadline(
    runtime: Runtime, gemini: FakeGemini
) -> None:
    facts = await facts_for(runtime, "24h")
    slow = Reply.answer(good_answer(facts)).after(10)
    gemini.enqueue(slow, slow, slow)

    report = await runtime.trends.trend("24h", "en")

    assert report.origin == "builtin"
    assert report.fallback_reason in {"deadline", "timeout"}
