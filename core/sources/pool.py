"""The provider pool: price providers tried in order, each resting after it fails.

One :meth:`ProviderPool.fetch` asks the providers in their configured order and returns the
first answer. A provider that fails rests before it is asked again:

=====================  ===============================================================
Failure                 Rest
=====================  ===============================================================
Rate limited            as long as it said (``retry_after``), at least
                        :attr:`PoolSettings.rate_limit_minimum`
Banned (418, 451)       until the ban's end (``retry_after``), else
                        :attr:`PoolSettings.ban_default`
Transient (5xx...)      retried within the run up to :attr:`PoolSettings.transient_retries`
                        times with exponential backoff, then rests
                        :attr:`PoolSettings.failure_rest` doubled per consecutive failure
                        up to :attr:`PoolSettings.failure_rest_cap`
Bad response (4xx...)   not retried; rests like a transient failure
=====================  ===============================================================

A WARNING is logged when a provider failed during a fetch and a later one served, and once
when every provider failed or rested; a provider that merely rests is logged at DEBUG only,
so a disabled provider does not warn on every run. /status reads :meth:`ProviderPool.snapshot`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.candles import Interval
from core.errors import (
    BannedError,
    ConfigError,
    RateLimitedError,
    SourceError,
    TransientError,
)
from core.sources.prices import Clock, PriceProvider, ProviderAnswer, utc_now

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

POOL_SOURCE = "price providers"
"""The ``source`` of the error raised when every provider failed."""


class Condition(StrEnum):
    """Whether a provider may be asked now."""

    READY = "ready"
    RESTING = "resting"  # after a failure or a rate limit
    BANNED = "banned"  # after an IP ban or a restricted-location refusal


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """How long providers rest and how often a transient failure is retried.

    Attributes:
        transient_retries: Extra attempts after a transient failure, within one fetch.
        backoff_base: Seconds before the first retry; doubled for each further one.
        backoff_cap: The longest wait before a retry; a server asking for more ends the
            retries and the provider rests that long instead.
        failure_rest: Seconds a provider rests after its first failure in a row.
        failure_rest_cap: The longest rest after failures in a row.
        rate_limit_minimum: The shortest rest after a rate limit.
        ban_default: The rest after a ban that does not say when it ends.
    """

    transient_retries: int = 2
    backoff_base: float = 1.0
    backoff_cap: float = 8.0
    failure_rest: float = 60.0
    failure_rest_cap: float = 30 * 60.0
    rate_limit_minimum: float = 1.0
    ban_default: float = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """One provider's state, as /status shows it.

    Attributes:
        name: The provider's name.
        condition: Ready, resting or banned, at the time of the snapshot.
        available_at: When a resting or banned provider may be asked again.
        last_success_at: When it last answered.
        last_failure_at: When it last failed.
        last_error: The text of its last failure, kept after it recovers.
        consecutive_failures: Failures since its last answer.
        rows_given: Candles it has given since the pool started.
    """

    name: str
    condition: Condition
    available_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    rows_given: int


@dataclass(slots=True)
class _ProviderState:
    """What the pool remembers about one provider."""

    provider: PriceProvider
    unavailable_until: datetime | None = None
    banned: bool = False
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    rows_given: int = 0


class ProviderPool:
    """Price providers asked in order until one answers.

    Note:
        The providers' states live in memory only: a restart forgets rests and bans, so the
        first run after it asks a banned provider once more.
    """

    def __init__(
        self,
        providers: Sequence[PriceProvider],
        *,
        order: Sequence[str] | None = None,
        settings: PoolSettings | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Prepare the pool.

        Args:
            providers: The providers available.
            order: Provider names in the order to ask them; providers left out are not
                used. None keeps the order of ``providers``.
            settings: Rests and retries; the defaults when None.
            clock: Gives the present time, aware UTC.
            sleep: Waits a number of seconds; injected so tests need not wait.

        Raises:
            ConfigError: When ``order`` names an unknown provider or one twice, or when no
                provider is left.
        """
        by_name = {provider.name: provider for provider in providers}
        if len(by_name) != len(providers):
            raise ConfigError("two price providers share a name")
        names = list(order) if order is not None else [provider.name for provider in providers]
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise ConfigError(f"unknown price providers {unknown}; known: {sorted(by_name)}")
        if len(set(names)) != len(names):
            raise ConfigError(f"a price provider is named twice in {names}")
        if not names:
            raise ConfigError("no price provider is configured")

        self._states = [_ProviderState(by_name[name]) for name in names]
        self._settings = settings or PoolSettings()
        self._clock = clock
        self._sleep = sleep

    @property
    def order(self) -> list[str]:
        """The provider names in the order they are asked."""
        return [state.provider.name for state in self._states]

    async def fetch(self, interval: Interval, since: datetime) -> ProviderAnswer:
        """Get candles from the first provider, in order, that answers.

        An answer with no candles (nothing new yet) is still an answer and ends the search.

        Args:
            interval: Hourly or daily.
            since: The earliest opening time wanted, timezone-aware.

        Raises:
            SourceError: When every provider failed or rests; ``retry_after`` then says
                when the first one may be asked again.
        """
        failures: list[str] = []
        failed_now: list[str] = []
        for state in self._states:
            name = state.provider.name
            now = self._clock()
            if state.unavailable_until is not None and now < state.unavailable_until:
                until = state.unavailable_until.isoformat(timespec="seconds")
                logger.debug("Provider %s rests until %s", name, until)
                failures.append(f"{name}: resting until {until}")
                continue

            try:
                answer = await self._ask(state, interval, since)
            except SourceError as error:
                self._record_failure(state, error)
                failures.append(f"{name}: {error}")
                failed_now.append(f"{name}: {error}")
                continue

            self._record_success(state, answer)
            if failed_now:
                logger.warning(
                    "Price provider %s served after others failed: %s",
                    name,
                    "; ".join(failed_now),
                )
            return answer

        logger.warning("All price providers failed: %s", "; ".join(failures))
        raise SourceError(
            POOL_SOURCE,
            "all providers failed: " + "; ".join(failures),
            retry_after=self._seconds_until_first_available(),
        )

    def snapshot(self) -> list[ProviderStatus]:
        """Give every provider's state, in asking order."""
        now = self._clock()
        statuses = []
        for state in self._states:
            resting = state.unavailable_until is not None and now < state.unavailable_until
            if not resting:
                condition = Condition.READY
            elif state.banned:
                condition = Condition.BANNED
            else:
                condition = Condition.RESTING
            statuses.append(
                ProviderStatus(
                    name=state.provider.name,
                    condition=condition,
                    available_at=state.unavailable_until if resting else None,
                    last_success_at=state.last_success_at,
                    last_failure_at=state.last_failure_at,
                    last_error=state.last_error,
                    consecutive_failures=state.consecutive_failures,
                    rows_given=state.rows_given,
                )
            )
        return statuses

    async def _ask(
        self, state: _ProviderState, interval: Interval, since: datetime
    ) -> ProviderAnswer:
        """Ask one provider, retrying transient failures with backoff."""
        settings = self._settings
        for attempt in range(settings.transient_retries + 1):
            try:
                return await state.provider.fetch_candles(interval, since)
            except TransientError as error:
                if attempt == settings.transient_retries:
                    raise
                delay = min(settings.backoff_base * 2**attempt, settings.backoff_cap)
                if error.retry_after is not None and error.retry_after > settings.backoff_cap:
                    raise
                delay = max(delay, error.retry_after or 0.0)
                logger.info(
                    "Provider %s failed (%s); retry %d in %.1f s",
                    state.provider.name,
                    error,
                    attempt + 1,
                    delay,
                )
                await self._sleep(delay)
        raise AssertionError("the retry loop always returns or raises")

    def _record_success(self, state: _ProviderState, answer: ProviderAnswer) -> None:
        """Remember that a provider answered."""
        state.last_success_at = self._clock()
        state.unavailable_until = None
        state.banned = False
        state.consecutive_failures = 0
        state.rows_given += len(answer.candles)

    def _record_failure(self, state: _ProviderState, error: SourceError) -> None:
        """Remember that a provider failed and decide how long it rests."""
        now = self._clock()
        settings = self._settings
        state.consecutive_failures += 1
        state.last_failure_at = now
        state.last_error = str(error)
        state.banned = isinstance(error, BannedError)

        if isinstance(error, RateLimitedError):
            rest = max(error.retry_after or 0.0, settings.rate_limit_minimum)
        elif isinstance(error, BannedError):
            rest = error.retry_after if error.retry_after is not None else settings.ban_default
        else:
            doubled = settings.failure_rest * 2 ** (state.consecutive_failures - 1)
            rest = max(min(doubled, settings.failure_rest_cap), error.retry_after or 0.0)
        state.unavailable_until = now + timedelta(seconds=rest)

        logger.info(
            "Provider %s failed (%s); rests until %s",
            state.provider.name,
            error,
            state.unavailable_until.isoformat(),
        )

    def _seconds_until_first_available(self) -> float | None:
        """Give the seconds until the first resting provider may be asked again."""
        now = self._clock()
        waits = [
            (state.unavailable_until - now).total_seconds()
            for state in self._states
            if state.unavailable_until is not None
        ]
        return max(min(waits), 0.0) if waits else None
