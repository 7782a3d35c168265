"""Keeping only what Tidings should: ``[state] keep_days`` of answers, feedback text, digest
notes and questions in progress, pruned once at start and then daily by the running bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from core.runtime.state import StateStore

log = logging.getLogger(__name__)

DAY_S = 24 * 3600.0


def prune_state(state: StateStore, *, keep_days: int, now: datetime | None = None) -> dict[str, int]:
    """Prune what is older than ``keep_days`` (nothing when it is 0 or less)."""
    if keep_days <= 0:
        return {}
    moment = now or datetime.now(UTC)
    removed = state.prune(older_than=moment - timedelta(days=keep_days))
    if any(removed.values()):
        log.info("pruned state older than %d days: %s", keep_days, removed)
    return removed


class DailyPruning:
    """Runs ``prune_state`` at start and every ``interval_s`` after, off the event loop."""

    def __init__(
        self,
        *,
        state: StateStore,
        keep_days: int,
        interval_s: float = DAY_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.state = state
        self.keep_days = keep_days
        self.interval_s = interval_s
        self.clock = clock
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.keep_days > 0:
            self._task = asyncio.create_task(self._loop(), name="tidings-pruning")

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(prune_state, self.state, keep_days=self.keep_days, now=self.clock())
                self.runs += 1
            except Exception:
                log.exception("pruning the state failed; trying again in a day")
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
