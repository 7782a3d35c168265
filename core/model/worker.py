"""The one model worker: every call into the language model goes through here.

llama.cpp contexts are not thread safe and a CPU runs one generation well at a time, so all
model calls share a single thread, in arrival order. The event loop never blocks on it: callers
``await`` their turn, and learn their position in the queue while they wait. A digest submits
one call per map or reduce step, so an interactive question waits at most one model call.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from core.ports import OnQueued

T = TypeVar("T")
log = logging.getLogger(__name__)


class ModelWorker:
    """``concurrency`` calls run at once (1 for an in-process model; up to
    ``[llm] server_concurrency`` when the model is a server, which has its own queue)."""

    def __init__(self, *, name: str = "tidings-model", concurrency: int = 1) -> None:
        self.concurrency = max(1, concurrency)
        self._executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=name)
        self._waiting: list[int] = []
        self._ids = itertools.count()
        self.completed = 0

    @property
    def depth(self) -> int:
        """Calls submitted and not yet finished (the one running included)."""
        return len(self._waiting)

    async def run(self, fn: Callable[[], T], *, on_queued: OnQueued | None = None) -> T:
        """Run ``fn`` on a model thread. If every slot is taken, ``on_queued(position)`` is
        awaited first (position 1 = next after the ones running)."""
        ticket = next(self._ids)
        ahead = max(0, len(self._waiting) - self.concurrency + 1)
        self._waiting.append(ticket)
        try:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._executor, fn)
            if ahead and on_queued is not None:
                try:
                    await on_queued(ahead)
                except Exception:  # a failed "queued" notice must not lose the answer
                    log.warning("could not report the queue position", exc_info=True)
            return await future
        finally:
            self._waiting.remove(ticket)
            self.completed += 1

    def position(self) -> int:
        return len(self._waiting)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
