from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from core.model.worker import ModelWorker
from core.runtime.state import StateStore
from tests.servers import start_postgres


def test_first_time_is_true_once_even_across_restarts(state_location: str) -> None:
    state = StateStore(state_location)
    assert state.first_time("slack:event:Ev1")
    assert not state.first_time("slack:event:Ev1")
    state.close()
    again = StateStore(state_location)
    assert not again.first_time("slack:event:Ev1")
    assert again.first_time("slack:event:Ev1", now=10**12), "expired keys are forgotten"
    again.close()


def test_a_postgresql_restart_needs_no_restart_of_tidings() -> None:
    # A database upgrade or a reboot of the database host. Restarted while Tidings was idle, the
    # store's pooled connections are dead: the first call after it must not fail on one. Calls
    # while it is down fail with the driver's error, and the store works again once it is back,
    # with what was written before.
    try:
        server = start_postgres()
    except Exception as error:
        pytest.skip(f"PostgreSQL could not be started: {error}")
    state = StateStore(server.url)
    try:
        assert state.first_time("slack:event:Ev1")
        server.restart()
        assert not state.first_time("slack:event:Ev1"), "the first call after a quiet restart works"
        server.halt()
        with pytest.raises(OperationalError):
            state.first_time("slack:event:Ev2")
        server.restart()
        assert state.first_time("slack:event:Ev2"), "nothing was written while the database was down"
        assert not state.first_time("slack:event:Ev1"), "what was written before the restart is kept"
    finally:
        state.close()
        server.stop()


def test_first_time_is_atomic_between_threads(state_location: str) -> None:
    state = StateStore(state_location)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(state.first_time("k"))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    state.close()


def test_feedback_keeps_the_latest_vote_per_user(state_location: str) -> None:
    state = StateStore(state_location)
    state.remember_answer("a", {"question": "q", "answer": "x", "citations": []})
    state.record_feedback(answer_id="a", platform="discord", channel="1", user="u", rating=1)
    state.record_feedback(answer_id="a", platform="discord", channel="1", user="u", rating=-1)
    state.record_feedback(answer_id="a", platform="discord", channel="1", user="v", rating=1)
    rows = state.feedback()
    assert [(r["user"], r["rating"]) for r in rows] == [("u", -1), ("v", 1)]
    assert rows[0]["question"] == "q"
    state.close()


def test_unanswered_questions_are_the_refused_ones_once_per_wording_most_asked_first(state_location: str) -> None:
    state = StateStore(state_location)

    def asked(answer_id: str, question: str, channel: str, grounded: bool) -> None:
        state.remember_answer(answer_id, {"question": question, "answer": "x", "channel": channel, "grounded": grounded, "citations": []})

    asked("1", "How do I expense a taxi?", "slack:T1:C1", False)
    asked("2", "what is the wifi password", "slack:T1:C2", False)
    asked("3", "how do I  expense a TAXI?", "slack:T1:C2", False)  # the same question, worded alike
    asked("4", "How do I connect Slack?", "slack:T1:C1", True)  # answered: not a gap
    asked("5", "where is the office?", "discord:G9:7", False)
    asked("6", "", "slack:T1:C1", False)  # nothing asked: nothing to list
    found = state.unanswered_questions(since=datetime.now(UTC) - timedelta(days=7))
    assert [(q.question, q.times, q.channels) for q in found] == [
        ("how do I expense a TAXI?", 2, ("slack:T1:C2", "slack:T1:C1")),  # most asked, as last worded
        ("where is the office?", 1, ("discord:G9:7",)),  # then the most recent
        ("what is the wifi password", 1, ("slack:T1:C2",)),
    ]
    in_workspace = state.unanswered_questions(since=datetime.now(UTC) - timedelta(days=7), scope_prefix="slack:T1:")
    assert [q.question for q in in_workspace] == ["how do I expense a TAXI?", "what is the wifi password"]
    assert state.unanswered_questions(since=datetime.now(UTC) + timedelta(minutes=1)) == []
    state.close()


def test_a_digest_window_is_claimed_once(state_location: str) -> None:
    state = StateStore(state_location)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    assert state.claim_digest("slack", "C1", start, end, owner="a")
    assert state.claim_digest("slack", "C1", start, end, owner="b") is None
    state.finish_digest("slack", "C1", start, end, message_id="123.4")
    assert state.claim_digest("slack", "C1", start, end, owner="c", stale_after_s=0) is None
    assert state.last_digest_end("slack", "C1") == end
    assert state.digests("slack")[0].message_id == "123.4"
    state.close()


def test_unfinished_questions_are_taken_once(state_location: str) -> None:
    state = StateStore(state_location)
    state.question_started("q1", {"platform": "slack", "channel": "C1"})
    state.question_started("q2", {"platform": "discord", "channel": "9"})
    state.question_finished("q1")
    assert [e["key"] for e in state.take_unfinished_questions(only_dead=False)] == ["q2"]
    assert state.take_unfinished_questions(only_dead=False) == []
    state.close()


# -- claims with leases ------------------------------------------------------------------------


def test_a_live_claim_is_held_an_expired_one_taken_over_a_completed_one_never(state_location: str) -> None:
    a = StateStore(state_location, claim_lease_s=30, owner="replica-a")
    b = StateStore(state_location, claim_lease_s=30, owner="replica-b")
    t = 1_000_000.0
    assert a.claim("slack:event:E1", now=t)
    assert not b.claim("slack:event:E1", now=t + 29), "the holder lives: a retry elsewhere is dropped"
    assert a.renew("slack:event:E1", now=t + 29)
    assert not b.claim("slack:event:E1", now=t + 58), "renewed: still alive"
    assert b.claim("slack:event:E1", now=t + 60), "the holder stopped renewing (died): the retry is answered"
    assert not a.renew("slack:event:E1", now=t + 61), "the dead holder lost it"
    assert b.claim_state("slack:event:E1")[:2] == ("held", "replica-b")
    b.complete("slack:event:E1", now=t + 62)
    assert not a.claim("slack:event:E1", now=t + 10_000), "completed: never answered again"
    assert not b.claim("slack:event:E1", now=t + 20 * 3600)
    a.close()
    b.close()


def test_a_released_claim_is_free_at_once(state_location: str) -> None:
    a = StateStore(state_location, owner="a")
    b = StateStore(state_location, owner="b")
    assert a.claim("k")
    b.release("k")  # not b's: nothing happens
    assert not b.claim("k")
    a.release("k")
    assert b.claim("k")
    a.close()
    b.close()


def test_of_many_replicas_claiming_at_once_exactly_one_wins(state_location: str) -> None:
    stores = [StateStore(state_location, owner=f"r{i}") for i in range(4)]
    lock = threading.Lock()

    def attempt(store: StateStore, key: str, results: list[bool]) -> None:
        won = store.claim(key)
        with lock:
            results.append(won)

    for key_number in range(5):
        results: list[bool] = []
        threads = [threading.Thread(target=attempt, args=(stores[i % 4], f"e{key_number}", results)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(True) == 1, results
    # ...and of many taking over one expired claim, exactly one too.
    t0 = 2_000_000.0
    assert stores[0].claim("stale", now=t0)
    winners = [s.claim("stale", now=t0 + 31) for s in stores[1:]]
    assert winners.count(True) == 1
    for store in stores:
        store.close()


def test_a_digest_lease_is_renewed_by_its_owner_and_taken_over_when_it_stops(state_location: str) -> None:
    state = StateStore(state_location, claim_lease_s=30)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(minutes=1)
    t = 3_000_000.0
    assert state.claim_digest("slack", "C1", start, end, owner="a", now=t)
    assert state.renew_digest("slack", "C1", start, end, owner="a", now=t + 25)
    assert state.claim_digest("slack", "C1", start, end, owner="b", now=t + 50) is None, "renewed at +25: alive until +55"
    assert state.claim_digest("slack", "C1", start, end, owner="b", now=t + 56), "a stopped renewing"
    assert not state.renew_digest("slack", "C1", start, end, owner="a", now=t + 57)
    state.release_digest("slack", "C1", start, end)
    assert state.claim_digest("slack", "C1", start, end, owner="c", now=t + 58), "released: free at once"
    state.close()


def test_a_question_being_answered_by_a_live_replica_is_not_taken_as_unfinished(state_location: str) -> None:
    a = StateStore(state_location, claim_lease_s=30, owner="a")
    b = StateStore(state_location, claim_lease_s=30, owner="b")
    t = 4_000_000.0
    assert a.claim("slack:C1:1.0", now=t)
    a.question_started("slack:C1:1.0", {"platform": "slack", "channel": "C1"})
    assert b.take_unfinished_questions(only_dead=True, now=t + 10) == []
    assert [e["key"] for e in b.take_unfinished_questions(only_dead=True, now=t + 31)] == ["slack:C1:1.0"]
    a.close()
    b.close()


# -- the shared rate limit -----------------------------------------------------------------------


def test_the_rate_limit_holds_across_replicas(state_location: str) -> None:
    a = StateStore(state_location, owner="a")
    b = StateStore(state_location, owner="b")
    t = 5_000_000.0
    allowed = [(a if i % 2 else b).allow_question("U1", per_minute=3, now=t + i) for i in range(6)]
    assert allowed == [True, True, True, False, False, False]
    assert a.allow_question("U2", per_minute=3, now=t + 6), "another user is not limited"
    assert b.allow_question("U1", per_minute=3, now=t + 60.5), "the oldest question left the minute"
    assert not a.allow_question("U1", per_minute=3, now=t + 60.6)
    a.close()
    b.close()


def test_the_rate_limit_is_exact_under_concurrent_questions(state_location: str) -> None:
    stores = [StateStore(state_location, owner=f"r{i}") for i in range(3)]
    results: list[bool] = []
    lock = threading.Lock()

    def ask(store: StateStore) -> None:
        won = store.allow_question("U9", per_minute=5)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=ask, args=(stores[i % 3],)) for i in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 5
    for store in stores:
        store.close()


# -- schema and migrations -------------------------------------------------------------------------


def test_a_migrated_database_has_exactly_the_declared_schema(state_location: str) -> None:
    from sqlalchemy import inspect

    from core.runtime.migrations import head_revision
    from core.runtime.schema import metadata

    state = StateStore(state_location)
    assert state.schema_revision() == head_revision()
    inspector = inspect(state.engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables == set(metadata.tables)
    for name, table in metadata.tables.items():
        assert {c["name"] for c in inspector.get_columns(name)} == {c.name for c in table.columns}, name
        assert {i["name"] for i in inspector.get_indexes(name)} >= {i.name for i in table.indexes}, name
    state.close()


def test_replicas_starting_together_migrate_once_and_all_come_up_at_head(state_location: str) -> None:
    from core.runtime.migrations import head_revision

    stores: list[StateStore] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def start() -> None:
        try:
            store = StateStore(state_location)
        except BaseException as error:  # pragma: no cover - the failure this test looks for
            with lock:
                errors.append(error)
            return
        with lock:
            stores.append(store)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert {s.schema_revision() for s in stores} == {head_revision()}
    for store in stores:
        store.close()


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


def test_a_server_worker_runs_its_concurrency_at_once_and_tells_the_rest_their_position() -> None:
    worker = ModelWorker(concurrency=2)
    running = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def job(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1
        return n

    positions: list[int] = []

    async def queued(position: int) -> None:
        positions.append(position)

    async def main() -> list[int]:
        calls = [asyncio.ensure_future(worker.run(lambda n=n: job(n), on_queued=queued)) for n in range(5)]
        await asyncio.sleep(0.2)
        release.set()
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert peak == 2
    assert sorted(positions) == [1, 2, 3], "two run at once; the other three learn their place"
    worker.shutdown()
