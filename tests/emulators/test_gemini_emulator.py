"""The fake Gemini REST API against the real google-genai client over loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from google import genai
from google.genai import errors, types
from google.genai.client import AsyncClient

from tests.emulators.gemini import FakeGemini, GeminiRequest, RemoteGemini, Reply, load_fixture
from tests.emulators.loopback import EmulatorProcess

API_KEY = "AIza-emulator-test-key"
MODEL = "gemini-2.5-flash"
PROMPT = "BTC closed at 67 000 USD after 7 days of gains. Explain the trend in two sentences."
SYSTEM = "You explain Bitcoin to beginners. Never give financial advice."


def make_client(
    url: str, *, timeout_ms: int = 3_000, retry: types.HttpRetryOptions | None = None
) -> genai.Client:
    """A client as the product should build one: short timeout, no hidden retry."""
    return genai.Client(
        api_key=API_KEY,
        http_options=types.HttpOptions(
            base_url=url,
            timeout=timeout_ms,
            retry_options=retry or types.HttpRetryOptions(attempts=1),
        ),
    )


async def ask(client: AsyncClient, model: str = MODEL) -> types.GenerateContentResponse:
    return await client.models.generate_content(
        model=model,
        contents=PROMPT,
        config=types.GenerateContentConfig(
            system_instruction=SYSTEM, temperature=0.2, max_output_tokens=256
        ),
    )


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini() as fake:
        yield fake


@pytest.fixture
async def client(gemini: FakeGemini) -> AsyncIterator[AsyncClient]:
    async with make_client(gemini.url).aio as async_client:
        yield async_client


# Answers --------------------------------------------------------------------------------------


async def test_an_answer_leaves_the_thought_out_of_text(
    gemini: FakeGemini, client: AsyncClient
) -> None:
    gemini.enqueue(Reply.answer("Bitcoin rose for a week.", thought="Plan: mention RSI."))

    response = await ask(client)

    assert response.text == "Bitcoin rose for a week."
    parts = response.candidates[0].content.parts
    assert [(part.text, bool(part.thought)) for part in parts] == [
        ("Plan: mention RSI.", True),
        ("Bitcoin rose for a week.", False),
    ]
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count + usage.thoughts_token_count
    )
    assert response.model_version == MODEL


async def test_the_default_answer_is_the_recorded_one(
    gemini: FakeGemini, client: AsyncClient
) -> None:
    recorded = load_fixture("generateContent_ok_gemini-3-pro-preview.json")

    response = await ask(client)

    assert response.text == recorded["candidates"][0]["content"]["parts"][0]["text"]


async def test_every_request_is_recorded(gemini: FakeGemini, client: AsyncClient) -> None:
    await ask(client)

    [request] = gemini.requests()
    assert (request.model, request.api_version) == (MODEL, "v1")
    assert (request.system_instruction, request.prompt) == (SYSTEM, PROMPT)
    assert request.generation_config == {"temperature": 0.2, "maxOutputTokens": 256}
    assert (request.api_key, request.key_in_header) == (API_KEY, True)
    assert request.server_timeout == "3"


async def test_the_api_version_follows_the_client(gemini: FakeGemini) -> None:
    options = types.HttpOptions(base_url=gemini.url, api_version="v1beta", timeout=3_000)

    async with genai.Client(api_key=API_KEY, http_options=options).aio as client:
        await ask(client)

    assert gemini.requests()[0].api_version == "v1beta"


async def test_a_key_in_the_query_is_recorded_as_not_in_the_header(gemini: FakeGemini) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    url = f"{gemini.url}/v1beta/models/{MODEL}:generateContent"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, params={"key": API_KEY}, json=body) as answer:
            assert answer.status == 200

    assert (gemini.requests()[0].api_key, gemini.requests()[0].key_in_header) == (API_KEY, False)


# Answers without usable text --------------------------------------------------------------


async def test_a_blocked_prompt_is_a_response_without_text(
    gemini: FakeGemini, client: AsyncClient
) -> None:
    gemini.enqueue(Reply.blocked())

    response = await ask(client)

    assert response.text is None
    assert response.candidates is None
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT


async def test_a_safety_stop_is_a_candidate_without_text(
    gemini: FakeGemini, client: AsyncClient
) -> None:
    gemini.enqueue(Reply.safety())

    response = await ask(client)

    assert response.text is None
    assert response.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert [rating.blocked for rating in response.candidates[0].safety_ratings] == [
        None,
        True,
        None,
        None,
    ]


async def test_empty_candidates_are_a_response_without_text(
    gemini: FakeGemini, client: AsyncClient
) -> None:
    gemini.enqueue(Reply.empty())

    response = await ask(client)

    assert (response.text, response.candidates, response.prompt_feedback) == (None, [], None)
    assert response.usage_metadata.prompt_token_count > 0


async def test_max_tokens_before_any_text_gives_no_text(
    gemini: FakeGemini, client: AsyncClient
) -> None:
    gemini.enqueue(Reply.max_tokens())

    response = await ask(client)

    assert response.text is None
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.usage_metadata.thoughts_token_count == 256


async def test_a_cut_off_answer_still_has_text(gemini: FakeGemini, client: AsyncClient) -> None:
    gemini.enqueue(Reply.cut_off("Bitcoin rose for a"))

    response = await ask(client)

    assert response.text == "Bitcoin rose for a"
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


# Errors ---------------------------------------------------------------------------------------


def retry_delay(error: errors.APIError) -> str:
    [retry_info] = [
        detail
        for detail in error.details["error"]["details"]
        if detail["@type"].endswith("RetryInfo")
    ]
    return str(retry_info["retryDelay"])


async def test_rate_limited_raises_client_error_with_the_retry_delay(
    gemini: FakeGemini, client: AsyncClient
) -> None:
    gemini.enqueue(Reply.rate_limited(), Reply.rate_limited("7s"))

    with pytest.raises(errors.ClientError) as recorded:
        await ask(client)
    with pytest.raises(errors.ClientError) as derived:
        await ask(client)

    assert (recorded.value.code, recorded.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert (retry_delay(recorded.value), retry_delay(derived.value)) == ("34.4s", "7s")
    assert len(gemini.requests()) == 2


@pytest.mark.parametrize(("status", "name"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
async def test_server_errors_raise_server_error(
    gemini: FakeGemini, client: AsyncClient, status: int, name: str
) -> None:
    gemini.enqueue(Reply.server_error(status))

    with pytest.raises(errors.ServerError) as raised:
        await ask(client)

    assert (raised.value.code, raised.value.status) == (status, name)


async def test_a_late_answer_within_the_timeout_arrives(
    gemini: FakeGemini, client: AsyncClient
) -> None:
    gemini.enqueue(Reply.answer("late but fine").after(0.3))
    started = time.monotonic()

    response = await ask(client)

    assert response.text == "late but fine"
    assert time.monotonic() - started >= 0.3


async def test_an_answer_later_than_the_timeout_raises_timeout_error(gemini: FakeGemini) -> None:
    gemini.enqueue(Reply.answer("too late").after(2.0))

    async with make_client(gemini.url, timeout_ms=300).aio as client:
        with pytest.raises(TimeoutError):
            await ask(client)


async def test_a_dropped_connection_raises_aiohttp_disconnect(
    gemini: FakeGemini, client: AsyncClient
) -> None:
    gemini.enqueue(Reply.dropped())

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await ask(client)

    assert len(gemini.requests()) == 1


async def test_the_wrong_key_and_an_unknown_model_are_client_errors() -> None:
    async with FakeGemini(api_key="the-right-key", known_models=[MODEL]) as gemini:
        options = types.HttpOptions(base_url=gemini.url, timeout=3_000)
        async with (
            make_client(gemini.url).aio as wrong_client,
            genai.Client(api_key="the-right-key", http_options=options).aio as right_client,
        ):
            with pytest.raises(errors.ClientError) as wrong_key:
                await ask(wrong_client)
            with pytest.raises(errors.ClientError) as unknown_model:
                await ask(right_client, model="gemini-0-nonexistent")

    assert (wrong_key.value.code, wrong_key.value.status) == (400, "INVALID_ARGUMENT")
    assert (unknown_model.value.code, unknown_model.value.status) == (404, "NOT_FOUND")
    assert gemini.requests() == []


# google-genai's own retries ---------------------------------------------------------------


async def test_without_retry_options_http_errors_are_not_retried(gemini: FakeGemini) -> None:
    gemini.enqueue(Reply.rate_limited(), Reply.server_error(503))
    options = types.HttpOptions(base_url=gemini.url, timeout=3_000)

    async with genai.Client(api_key=API_KEY, http_options=options).aio as client:
        with pytest.raises(errors.ClientError):
            await ask(client)
        with pytest.raises(errors.ServerError):
            await ask(client)

    assert [request.reply for request in gemini.requests()] == ["rate_limited", "server_error"]


async def test_without_retry_options_a_dropped_connection_is_silently_retried(
    gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK sleeps 1 + randint(0, 9) s and tries again; pinned to 1 s here."""
    monkeypatch.setattr("google.genai._api_client.random.randint", lambda low, high: low)
    gemini.enqueue(Reply.dropped(), Reply.answer("second try"))
    options = types.HttpOptions(base_url=gemini.url, timeout=3_000)
    started = time.monotonic()

    async with genai.Client(api_key=API_KEY, http_options=options).aio as client:
        response = await ask(client)

    assert response.text == "second try"
    assert [request.reply for request in gemini.requests()] == ["drop", "answer"]
    assert time.monotonic() - started >= 1.0


async def test_retry_options_make_the_sdk_retry_server_errors(gemini: FakeGemini) -> None:
    gemini.enqueue(Reply.server_error(503), Reply.rate_limited(), Reply.answer("third try"))
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0)

    async with make_client(gemini.url, retry=retry).aio as client:
        response = await ask(client)

    assert response.text == "third try"
    assert [request.reply for request in gemini.requests()] == [
        "server_error",
        "rate_limited",
        "answer",
    ]


# Remote control ---------------------------------------------------------------------------


async def test_the_emulator_runs_as_a_process_driven_over_http() -> None:
    async with EmulatorProcess("tests.emulators.gemini") as process:
        async with RemoteGemini(process.url) as remote:
            await remote.enqueue(Reply.rate_limited("3s"), Reply.answer("from another process"))
            await remote.set_default(Reply.blocked("SAFETY"))
            async with make_client(process.url).aio as client:
                with pytest.raises(errors.ClientError):
                    await ask(client)
                answered = await ask(client)
                blocked = await ask(client)
            requests = await remote.wait_for_requests(3, timeout=2)

    assert answered.text == "from another process"
    assert blocked.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert [request.reply for request in requests] == ["rate_limited", "answer", "blocked"]
    assert all(isinstance(request, GeminiRequest) for request in requests)
    assert requests[0].prompt == PROMPT
