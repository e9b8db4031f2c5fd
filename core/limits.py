"""Per-user allowances for the commands that can cost a language-model call."""

from __future__ import annotations

from collections import OrderedDict

from aiolimiter import AsyncLimiter

# Users remembered at once; the least recently seen are forgotten first (and start afresh).
MAX_TRACKED_USERS = 10_000


class PerUserLimiter:
    """Lets each user make ``max_calls`` calls per ``period_seconds``, refilled smoothly.

    Note:
        The allowance lives in the process's memory: a restart refills it, and replicas
        each keep their own.
    """

    def __init__(self, max_calls: int, period_seconds: float) -> None:
        self._max_calls = max_calls
        self._period = period_seconds
        self._limiters: OrderedDict[int, AsyncLimiter] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """False when the limit is switched off (``max_calls`` of 0)."""
        return self._max_calls > 0

    async def allow(self, user_id: int) -> bool:
        """Spend one of ``user_id``'s calls; False, spending nothing, when none is left."""
        if not self.enabled:
            return True

        limiter = self._limiters.pop(user_id, None) or AsyncLimiter(self._max_calls, self._period)
        self._limiters[user_id] = limiter
        if len(self._limiters) > MAX_TRACKED_USERS:
            self._limiters.popitem(last=False)

        if not limiter.has_capacity():
            return False
        await limiter.acquire()
        return True
