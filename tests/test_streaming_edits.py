"""The streaming throttle both platforms use (core.answers.streaming), on a clock the test moves."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.answers.streaming import StreamingEdits


class Message:
    """What the platform shows: every edit in order; edits can be made slow or failing."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def show_queued(self, position: int) -> None:
        self.shown.append(f"queued {position}")

    async def show_text(self, text: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("the platform said 500")
        self.shown.append(text)

    async def final(self) -> str:
        self.shown.append("FINAL")
        return "posted"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def drain() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def edits_for(message: Message, clock: Clock, interval: float = 1.0) -> StreamingEdits:
    return StreamingEdits(show_queued=message.show_queued, show_text=message.show_text, interval=interval, clock=clock)


async def test_at_most_one_edit_per_interval_and_the_final_one_always() -> None:
    message, clock = Message(), Clock()
    edits = edits_for(message, clock)
    for n in range(1, 6):  # five pieces within the same second
        await edits.on_text("word " * n)
        await drain()
    assert message.shown == ["word "]
    clock.now += 1.0
    await edits.on_text("word word word word word word")
    await drain()
    assert await edits.finish(message.final) == "posted"
    assert message.shown == ["word ", "word word word word word word", "FINAL"]
    assert edits.edits == 2


async def test_blank_text_is_not_shown_and_the_queue_notice_only_before_the_answer() -> None:
    message, clock = Message(), Clock()
    edits = edits_for(message, clock)
    await edits.on_queued(2)
    await edits.on_text("   ")
    clock.now += 1.0
    await edits.on_text("Deploys go out")
    await drain()
    await edits.on_queued(1)  # the answer is already showing: no step back to the queue notice
    await edits.finish(message.final)
    assert message.shown == ["queued 2", "Deploys go out", "FINAL"]


async def test_the_first_piece_waits_an_interval_after_the_queue_notice() -> None:
    message, clock = Message(), Clock()
    edits = edits_for(message, clock)
    await edits.on_queued(1)
    clock.now += 0.5
    await edits.on_text("too soon")
    await drain()
    assert message.shown == ["queued 1"]


async def test_edits_never_overlap_and_the_final_waits_for_the_one_in_flight() -> None:
    message, clock = Message(), Clock()
    message.gate = asyncio.Event()
    edits = edits_for(message, clock, interval=0.0)
    await edits.on_text("one")
    await edits.on_text("one two")  # the first edit is still on its way: skipped
    finishing = asyncio.ensure_future(edits.finish(message.final))
    await drain()
    assert message.shown == [] and not finishing.done()
    message.gate.set()
    await finishing
    assert message.shown == ["one", "FINAL"]
    await edits.on_text("one two three")  # nothing after the final answer
    await drain()
    assert message.shown == ["one", "FINAL"]


async def test_a_failed_progress_edit_is_logged_and_the_answer_still_shown(caplog: pytest.LogCaptureFixture) -> None:
    message, clock = Message(), Clock()
    message.fail = True
    edits = edits_for(message, clock)
    with caplog.at_level(logging.WARNING, logger="core.answers.streaming"):
        await edits.on_text("partial")
        await drain()
        await edits.finish(message.final)
    assert message.shown == ["FINAL"] and edits.edits == 0
    assert "progress edit failed" in caplog.text


async def test_close_after_a_failure_stops_further_edits() -> None:
    message, clock = Message(), Clock()
    edits = edits_for(message, clock, interval=0.0)
    await edits.close()
    await edits.on_queued(1)
    await edits.on_text("late")
    await drain()
    assert message.shown == []
