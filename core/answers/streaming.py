"""Showing an answer while the model writes it, on any chat platform.

One bot message shows, in turn, the queue position, the answer as the model writes it, and
the finished answer. Chat platforms rate-limit edits (Slack about one a second, Discord a
few per five seconds per channel) and the model must never wait for a chat platform, so
edits are throttled to one per ``interval`` seconds, never overlap, and a lost progress edit
is only logged: the finished answer always replaces whatever is shown. The adapter says how
a queue position and a partial answer look and where they go; this class says when.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.ports import Clock, OnQueued, OnText

log = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")



class StreamingEdits:
    """The edits of one answer message, as the model writes it.

    Pass ``on_queued`` and ``on_text`` to the answerer, then hand the finished answer to
    ``finish``. ``show_queued(position)`` and ``show_text(text_so_far)`` put the notice or the
    partial answer in the message (creating it the first time); ``edits`` counts the progress
    edits that reached the platform.
    """

    def __init__(
        self,
        *,
        show_queued: OnQueued,
        show_text: OnText,
        interval: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.show_queued = show_queued
        self.show_text = show_text
        self.interval = interval
        self.clock = clock
        self.edits = 0
        self._lock = asyncio.Lock()
        self._last = float("-inf")
        self._in_flight: asyncio.Task[None] | None = None
        self._has_text = False
        self._closing = False
        # The model calls on_text from wherever it streams (possibly a task started from its
        # thread); edits run in the context of the request that created these edits.
        self._context = contextvars.copy_context()

    async def on_queued(self, position: int) -> None:
        """The question waits for the model: say where it is in the queue, unless the answer
        is already showing."""
        if self._has_text or self._closing:
            return
        self._last = self.clock()
        await self._show(self.show_queued, position)

    async def on_text(self, text_so_far: str) -> None:
        """Called for every piece the model writes; shows it when an edit is due and none
        is in flight."""
        if self._closing or not text_so_far.strip():
            return
        self._has_text = True
        if self._in_flight is not None and not self._in_flight.done():
            return
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        self._in_flight = asyncio.get_running_loop().create_task(
            self._show(self.show_text, text_so_far), name="tidings-streaming-edit", context=self._context
        )

    async def _show(self, show: Callable[[V], Awaitable[None]], value: V) -> None:
        async with self._lock:
            if self._closing:
                return  # the finished answer replaces it anyway
            try:
                await show(value)
                self.edits += 1
            except Exception:  # a lost progress edit must not lose the answer
                log.warning("A progress edit failed; the finished answer will still be shown", exc_info=True)

    async def close(self) -> None:
        """Stop showing progress and wait for the edit in flight, if any."""
        self._closing = True
        if self._in_flight is not None:
            await self._in_flight

    async def finish(self, show_final: Callable[[], Awaitable[T]]) -> T:
        """Show the finished answer (or a notice in its place): no progress edit starts
        after this, the one in flight completes first, and then ``show_final()`` runs."""
        await self.close()
        async with self._lock:
            return await show_final()
