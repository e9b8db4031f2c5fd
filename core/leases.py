"""Job leases: several replicas share one database, and each scheduled job runs on one of them.

Every replica schedules every job; when a job's time comes, the replica first takes the job's
lease, a row in ``job_leases`` with a holder and an expiry. Only the holder runs the job. While
it runs, the holder pushes the expiry forward every third of the lease time; once the run is
over, it keeps the lease for ``linger`` more (a job's interval), so that the other replicas,
whose timers fire at other moments, do not run the same job again within the same interval.
The holder's next run renews the lease, so one replica stays in charge as long as it lives.

When the holder dies, mid-run or between runs, nobody renews its lease; once the lease has
expired, the next replica whose timer fires takes the lease over and runs the job.

Usage::

    async with runtime.leases.hold("ingest-prices", ttl, linger=interval) as held:
        if not held:
            return
        ...  # the job
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from core.errors import StorageError
from storage.database import Database
from storage.repositories import Lease, LeaseRepository

logger = logging.getLogger(__name__)

HOLDER_MAX_LENGTH = 128


def default_holder() -> str:
    """A name for this process that no other replica shares: host, process id, random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[-HOLDER_MAX_LENGTH:]


class JobLeases:
    """Takes, keeps and hands back the leases of the scheduled jobs for this replica.

    Note:
        Expiry times come from this replica's clock, so the replicas' clocks must agree to
        well within a lease time (NTP does). A holder that stalls for longer than the lease
        time (a paused VM) may find on waking that another replica took over; it then logs a
        warning and finishes its run, so both may run for a moment. Ingestion stores by
        upsert, so such an overlap costs requests, never duplicate rows.
    """

    def __init__(
        self,
        database: Database,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._leases = LeaseRepository(database)
        self.holder = holder or default_holder()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._running_here: set[str] = set()

    async def current(self, name: str) -> Lease | None:
        """The lease on job ``name`` as stored, whoever holds it; None when never taken."""
        return await self._leases.get(name)

    @asynccontextmanager
    async def hold(
        self, name: str, ttl: timedelta, *, linger: timedelta = timedelta(0)
    ) -> AsyncIterator[bool]:
        """Hold the lease on job ``name`` for the block, if no other replica holds it.

        Args:
            name: The job's name, e.g. ``ingest-prices``.
            ttl: How long the lease lasts without renewal; renewed every third of it while
                the block runs, so another replica takes over this long after a crash.
            linger: How long the lease is kept once the block ends, so that no other replica
                runs the same job before this one's next run; zero hands it back at once.

        Yields:
            True when this replica holds the lease and should run the job, else False.

        Raises:
            StorageError: The lease could not be read or written.
        """
        started = self._clock()
        if not await self._leases.try_acquire(name, self.holder, started, started + ttl):
            if name in self._running_here:
                self._running_here.discard(name)
                logger.info("job=%s now runs on another replica", name)
            logger.debug("job=%s lease held by another replica; not running", name)
            yield False
            return

        if name not in self._running_here:
            self._running_here.add(name)
            logger.info("job=%s runs on this replica from now on (holder %s)", name, self.holder)
        keeper = asyncio.create_task(self._keep(name, ttl), name=f"lease-{name}")
        try:
            yield True
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await self._hand_back(name, linger)

    async def _keep(self, name: str, ttl: timedelta) -> None:
        """Push the expiry forward every third of ``ttl`` until cancelled or the lease is lost."""
        while True:
            await asyncio.sleep(ttl.total_seconds() / 3)
            try:
                kept = await self._leases.extend(name, self.holder, self._clock() + ttl)
            except StorageError:
                logger.warning("job=%s could not renew its lease; retrying", name, exc_info=True)
                continue
            if not kept:
                logger.warning("job=%s lease lost to another replica during the run", name)
                return

    async def _hand_back(self, name: str, linger: timedelta) -> None:
        """Keep the lease ``linger`` past now; after that any replica may take it."""
        try:
            await self._leases.extend(name, self.holder, self._clock() + linger)
        except StorageError:
            logger.warning(
                "job=%s could not hand back its lease; it lapses by itself", name, exc_info=True
            )
