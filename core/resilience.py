"""Resilience around the language model: bounded retries, and a circuit that rests it.

``GuardedAnalyst`` wraps an analyst that calls a remote model:

==========================  =========================================================
failure reason              what happens
==========================  =========================================================
``rate_limited`` (429)      the circuit opens for the delay the service asked for
                            (``retry_after``, else ``DEFAULT_REST_SECONDS``); no call
                            is made until it has passed
``server_error``,           retried up to ``retries`` times with exponential backoff,
``timeout``, ``network``    then given up
anything else (400, 403,    never retried: the same request would fail the same way
blocked, safety, rejected)
==========================  =========================================================

Every give-up raises the last :class:`~core.errors.AnalystError`, so the caller falls back
on the built-in analyst. Attempts, failures by reason, tokens and latency are counted in
:class:`~core.metrics.RuntimeStats`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from core.analysis import TrendFacts
from core.analysts import Analyst, AnalystAnswer
from core.candles import Candle
from core.errors import AnalystError
from core.metrics import RuntimeStats

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]

RETRIED_REASONS = frozenset({"server_error", "timeout", "network"})
# How long the circuit stays open after a 429 that named no delay.
DEFAULT_REST_SECONDS = 60.0


class CircuitBreaker:
    """Open for a while after the service said to wait; closed otherwise.

    Note:
        The circuit lives in the process's memory: each replica learns of a quota
        exhaustion by itself, with one refused call.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._open_until: datetime | None = None

    @property
    def open_until(self) -> datetime | None:
        """When calls may resume, while the circuit is open; None when it is closed."""
        if self._open_until is not None and self._clock() >= self._open_until:
            self._open_until = None
        return self._open_until

    def open_for(self, seconds: float) -> None:
        """Refuse calls for ``seconds`` from now (never shortening a longer rest)."""
        until = self._clock() + timedelta(seconds=seconds)
        if self._open_until is None or until > self._open_until:
            self._open_until = until


class GuardedAnalyst:
    """An analyst with retries for passing failures and a circuit for rate limits."""

    def __init__(
        self,
        inner: Analyst,
        stats: RuntimeStats,
        clock: Clock,
        *,
        retries: int = 2,
        backoff_seconds: float = 0.5,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = inner.name
        self.circuit = CircuitBreaker(clock)
        self._clock = clock
        self._inner = inner
        self._stats = stats
        self._retries = retries
        self._backoff = backoff_seconds
        self._sleep = sleep

    async def analyse(
        self, facts: TrendFacts, candles: Sequence[Candle], language: str
    ) -> AnalystAnswer:
        """Ask the inner analyst, retrying what may pass; raise when it will not answer.

        Raises:
            AnalystError: ``circuit_open`` while resting, or the last failure.
        """
        open_until = self.circuit.open_until
        if open_until is not None:
            raise AnalystError("circuit_open", f"resting until {open_until.isoformat()}")

        attempt = 0
        while True:
            self._stats.llm_calls += 1
            try:
                answer = await self._inner.analyse(facts, candles, language)
            except AnalystError as error:
                self._stats.llm_failures[error.reason] += 1
                if error.tokens_in or error.tokens_out:
                    today = self._clock().date()
                    self._stats.record_tokens(error.tokens_in, error.tokens_out, today)
                if error.reason == "rate_limited":
                    self.circuit.open_for(error.retry_after or DEFAULT_REST_SECONDS)
                    logger.warning(
                        "Gemini rate limit: no call for %.0f s",
                        error.retry_after or DEFAULT_REST_SECONDS,
                    )
                    raise
                if error.reason not in RETRIED_REASONS or attempt >= self._retries:
                    raise
                delay = self._backoff * 2**attempt
                attempt += 1
                logger.warning(
                    "Gemini %s; retry %d of %d in %.1f s",
                    error.reason,
                    attempt,
                    self._retries,
                    delay,
                )
                await self._sleep(delay)
                continue

            today = self._clock().date()
            self._stats.record_tokens(answer.tokens_in or 0, answer.tokens_out or 0, today)
            self._stats.llm_latency.add(answer.latency_s * 1000)
            return answer
