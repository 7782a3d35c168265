"""A replica crashing at each step of answering an event or posting a digest window, on both
state backends: what the next delivery (or the next replica) does. Each step's outcome is one
row of docs/reliability.md ("Claims with leases").

A crash here is the crashed replica simply stopping: it never renews, completes or releases
again, which is all SIGKILL leaves behind in the database. Time is passed explicitly, so a
lease of 30 s is crossed without waiting (tests/test_replicas.py does it with real processes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.runtime.state import StateStore
from tests.reliability import record

pytestmark = pytest.mark.reliability

LEASE = 30.0
T0 = 10_000_000.0
KEY = "slack:event:Ev0CRASH"


def replicas(location: str) -> tuple[StateStore, StateStore]:
    return (
        StateStore(location, claim_lease_s=LEASE, owner="replica-a"),
        StateStore(location, claim_lease_s=LEASE, owner="replica-b"),
    )


def test_crash_after_claiming_an_event_before_answering(state_location: str) -> None:
    a, b = replicas(state_location)
    assert a.claim(KEY, now=T0)
    # A dies here. Slack retries (1 min, 5 min later in real life; here just inside and after the lease).
    dropped = not b.claim(KEY, now=T0 + LEASE - 1)
    answered = b.claim(KEY, now=T0 + LEASE + 1)
    b.complete(KEY, now=T0 + LEASE + 2)
    assert dropped and answered
    assert not a.claim(KEY, now=T0 + 3600) and not b.claim(KEY, now=T0 + 3600)
    record(
        "Claims with leases",
        backend=a.dialect,
        work="event",
        crash="after the claim, before any reply",
        outcome="retry within the lease dropped; retry after it answered by the other replica, once",
    )
    a.close()
    b.close()


def test_crash_mid_answer_leaves_a_question_the_other_replica_answers_and_tells(state_location: str) -> None:
    a, b = replicas(state_location)
    question = "slack:C0CRASH:1700000000.000100"
    assert a.claim(KEY, now=T0) and a.claim(question, now=T0)
    a.question_started(question, {"platform": "slack", "channel": "C0CRASH"})
    for tick in (10, 20, 30):  # renewed while it works...
        assert a.renew(KEY, now=T0 + tick) and a.renew(question, now=T0 + tick)
    # ...then SIGKILL at T0 + 35: the lease lives until T0 + 60.
    assert not b.claim(KEY, now=T0 + 59), "the retry within the renewed lease is dropped"
    assert b.take_unfinished_questions(only_dead=True, now=T0 + 59) == [], "A may still be answering"
    assert b.claim(KEY, now=T0 + 61) and b.claim(question, now=T0 + 61)
    b.complete(KEY, now=T0 + 62)
    b.complete(question, now=T0 + 62)
    record(
        "Claims with leases",
        backend=a.dialect,
        work="event",
        crash="mid-answer (lease renewed, then no more)",
        outcome="retries dropped until one lease after the last renewal, then answered once; the half answer's "
        "asker is told by a replica once the lease is over",
    )
    assert [e["key"] for e in b.take_unfinished_questions(only_dead=True, now=T0 + 63)] == [question]
    a.close()
    b.close()


def test_crash_after_completing_an_event(state_location: str) -> None:
    a, b = replicas(state_location)
    assert a.claim(KEY, now=T0)
    a.complete(KEY, now=T0 + 5)
    # A dies after marking the event done: nobody answers it again, however late the retry.
    assert not any(b.claim(KEY, now=T0 + dt) for dt in (1, LEASE + 1, 3600, 23 * 3600))
    record(
        "Claims with leases",
        backend=a.dialect,
        work="event",
        crash="after the answer was posted and the claim completed",
        outcome="never answered again (completed claims are kept a day; Slack retries for minutes)",
    )
    a.close()
    b.close()


def test_crash_after_posting_before_completing_is_the_one_duplicate(state_location: str) -> None:
    a, b = replicas(state_location)
    assert a.claim(KEY, now=T0)
    # A posted its answer and died before `complete`: the database cannot know the post exists.
    assert b.claim(KEY, now=T0 + LEASE + 1)
    record(
        "Claims with leases",
        backend=a.dialect,
        work="event",
        crash="after the answer was posted, before the claim was completed (a window of one database write)",
        outcome="a retry after the lease is answered again: the one duplicate left",
    )
    a.close()
    b.close()


WINDOW = (datetime(2026, 5, 1, 17, 0, tzinfo=UTC), datetime(2026, 5, 1, 17, 1, tzinfo=UTC))


def test_digest_crash_before_posting_is_taken_over_after_the_lease(state_location: str) -> None:
    a, b = replicas(state_location)
    assert a.claim_digest("slack", "C1", *WINDOW, owner="replica-a", now=T0)
    assert a.renew_digest("slack", "C1", *WINDOW, owner="replica-a", now=T0 + 10)
    # A dies while summarising.
    assert b.claim_digest("slack", "C1", *WINDOW, owner="replica-b", now=T0 + 39) is None
    assert b.claim_digest("slack", "C1", *WINDOW, owner="replica-b", now=T0 + 41) is not None
    b.finish_digest("slack", "C1", *WINDOW, message_id="1.1")
    assert a.claim_digest("slack", "C1", *WINDOW, owner="replica-a", now=T0 + 9999) is None
    record(
        "Claims with leases",
        backend=a.dialect,
        work="digest window",
        crash="after the claim, while fetching or summarising",
        outcome="another replica (or the restart) takes the window one lease after the last renewal and posts it once",
    )
    a.close()
    b.close()


def test_digest_crash_after_posting_before_recording(state_location: str) -> None:
    a, b = replicas(state_location)
    assert a.claim_digest("slack", "C1", *WINDOW, owner="replica-a", now=T0)
    # A's post reached the platform, then A died: the claim goes stale; whoever takes it over
    # first looks for the post in the channel (DigestScheduler._resolve_stale_claims,
    # tests/test_scheduling.py) and records it instead of posting again.
    taken = b.claim_digest("slack", "C1", *WINDOW, owner="replica-b", now=T0 + LEASE + 1)
    assert taken is not None
    b.finish_digest("slack", "C1", *WINDOW, message_id="found-in-history")
    assert [r.message_id for r in b.digests("slack", "C1")] == ["found-in-history"]
    record(
        "Claims with leases",
        backend=a.dialect,
        work="digest window",
        crash="after the platform accepted the post, before it was recorded",
        outcome="the stale claim is taken over and resolved by finding the post in the channel: recorded, not reposted",
    )
    a.close()
    b.close()


def test_digest_crash_after_recording(state_location: str) -> None:
    a, b = replicas(state_location)
    assert a.claim_digest("slack", "C1", *WINDOW, owner="replica-a", now=T0)
    a.finish_digest("slack", "C1", *WINDOW, message_id="1.2")
    assert all(
        b.claim_digest("slack", "C1", *WINDOW, owner="replica-b", stale_after_s=0, now=T0 + dt) is None for dt in (1, 3600)
    )
    assert b.last_digest_end("slack", "C1") == WINDOW[1]
    record(
        "Claims with leases",
        backend=a.dialect,
        work="digest window",
        crash="after the post was recorded",
        outcome="never posted again; the next window starts where this one ended",
    )
    a.close()
    b.close()


def test_windows_do_not_overlap_when_replicas_fire_late(state_location: str) -> None:
    a, b = replicas(state_location)
    start = WINDOW[0]
    posted = 0
    for minute in range(5):  # both replicas fire every minute's window, in either order
        window = (start + timedelta(minutes=minute), start + timedelta(minutes=minute + 1))
        first, second = (a, b) if minute % 2 else (b, a)
        for store in (first, second):
            if store.claim_digest("slack", "C1", *window, owner=store.owner, now=T0 + minute * 60) is not None:
                store.finish_digest("slack", "C1", *window, message_id=f"m{minute}")
                posted += 1
    assert posted == 5
    a.close()
    b.close()
