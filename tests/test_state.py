from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.model.worker import ModelWorker
from core.runtime.state import StateStore


def test_first_time_is_true_once_even_across_restarts(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    assert state.first_time("slack:event:Ev1")
    assert not state.first_time("slack:event:Ev1")
    state.close()
    again = StateStore(tmp_path / "s.db")
    assert not again.first_time("slack:event:Ev1")
    assert again.first_time("slack:event:Ev1", now=10**12), "expired keys are forgotten"


def test_first_time_is_atomic_between_threads(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(state.first_time("k"))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_feedback_keeps_the_latest_vote_per_user(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    state.remember_answer("a", {"question": "q", "answer": "x", "citations": []})
    state.record_feedback(answer_id="a", platform="discord", channel="1", user="u", rating=1)
    state.record_feedback(answer_id="a", platform="discord", channel="1", user="u", rating=-1)
    state.record_feedback(answer_id="a", platform="discord", channel="1", user="v", rating=1)
    rows = state.feedback()
    assert [(r["user"], r["rating"]) for r in rows] == [("u", -1), ("v", 1)]
    assert rows[0]["question"] == "q"


def test_a_digest_window_is_claimed_once(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    assert state.claim_digest("slack", "C1", start, end, owner="a")
    assert state.claim_digest("slack", "C1", start, end, owner="b") is None
    state.finish_digest("slack", "C1", start, end, message_id="123.4")
    assert state.claim_digest("slack", "C1", start, end, owner="c", stale_after_s=0) is None
    assert state.last_digest_end("slack", "C1") == end
    assert state.digests("slack")[0].message_id == "123.4"


def test_unfinished_questions_are_taken_once(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    state.question_started("q1", {"platform": "slack", "channel": "C1"})
    state.question_started("q2", {"platform": "discord", "channel": "9"})
    state.question_finished("q1")
    assert [e["key"] for e in state.take_unfinished_questions()] == ["q2"]
    assert state.take_unfinished_questions() == []


def test_the_worker_runs_one_call_at_a_time_in_order_and_reports_positions() -> None:
    worker = ModelWorker()
    running = 0
    peak = 0
    order: list[int] = []
    lock = threading.Lock()

    def job(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        threading.Event().wait(0.02)
        order.append(n)
        with lock:
            running -= 1
        return n

    positions: list[int] = []

    async def queued(position: int) -> None:
        positions.append(position)

    async def main() -> list[int]:
        return await asyncio.gather(*(worker.run(lambda n=n: job(n), on_queued=queued) for n in range(5)))

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert order == [0, 1, 2, 3, 4] and peak == 1
    assert sorted(positions) == [1, 2, 3, 4]
    assert worker.depth == 0
    worker.shutdown()
