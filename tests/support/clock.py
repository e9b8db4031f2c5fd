"""A hand-moved clock and a sleep that moves it, so tests never wait for real."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    """Gives a fixed aware time until moved; its ``sleep`` moves it and records the wait."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
