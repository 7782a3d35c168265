"""The digest scheduler: persistent jobs, one post per window whatever fires, crashes
resolved without duplicates, missed runs, time zones and daylight saving (fake clock)."""

from __future__ import annotations

import asyncio
import pickle
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.config import AccessSettings, DigestChannel, DigestSettings, Settings
from core.digests.scheduling import DigestScheduler, cron_trigger, latest_fire_time, record_channel
from core.digests.summarizing import Summarizer
from core.model.worker import ModelWorker
from core.runtime.state import StateStore
from core.types import ChannelRef, channel_scope
from tests.digest_support import MemoryPlatform, WordModel, message

BERLIN = ZoneInfo("Europe/Berlin")
GENERAL = DigestChannel(
    platform="slack", channel="C1", workspace="T1", name="general", cron="0 17 * * *", timezone="Europe/Berlin", min_messages=2
)
REF = ChannelRef("slack", "T1", "C1", name="general")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make(
    home: Path,
    *,
    clock: Callable[[], datetime] | None = None,
    platform: MemoryPlatform | None = None,
    channels: tuple[DigestChannel, ...] = (GENERAL,),
    state: StateStore | None = None,
) -> tuple[DigestScheduler, MemoryPlatform, StateStore]:
    # A digest posted in another channel needs that channel granted the source's scope.
    grants = {channel_scope("slack", c.workspace, c.target_channel): (channel_scope("slack", c.workspace, c.channel),) for c in channels if c.target_channel}
    settings = Settings(home=home, digests=DigestSettings(channels=channels), access=AccessSettings(grants=grants))
    state = state or StateStore(settings.state_path)
    platform = platform or MemoryPlatform(clock=clock)
    summarizer = Summarizer(model=WordModel(), worker=ModelWorker(), state=state, settings=settings.digests)
    scheduler = DigestScheduler(settings=settings, state=state, summarizer=summarizer, platforms={"slack": platform}, clock=clock)
    return scheduler, platform, state


def chat(platform: MemoryPlatform, start: datetime, count: int, *, first: int = 1) -> list[str]:
    """``count`` messages in #general from ``start``, ten minutes apart; returns their ids."""
    ids = []
    for i in range(count):
        n = first + i
        platform.add(message(n, "alice" if i % 2 else "bob", f"Message {n} about the deploy pipeline step {n}.", at=start + timedelta(minutes=10 * i), channel=REF))
        ids.append(f"m{n}")
    return ids


def set_next_run_time(path: Path, job_id: str, moment: datetime) -> None:
    """Edit a stored job the way APScheduler's SQLAlchemy job store keeps it."""
    db = sqlite3.connect(path)
    (blob,) = db.execute("SELECT job_state FROM apscheduler_jobs WHERE id = ?", (job_id,)).fetchone()
    job_state = pickle.loads(blob)
    job_state["next_run_time"] = moment
    db.execute(
        "UPDATE apscheduler_jobs SET next_run_time = ?, job_state = ? WHERE id = ?",
        (moment.timestamp(), pickle.dumps(job_state), job_id),
    )
    db.commit()
    db.close()


def posted_sources(platform: MemoryPlatform) -> list[str]:
    return [
        link.message_id
        for post in platform.posts
        if post.digest is not None
        for section in post.digest.sections
        for bullet in section.bullets
        for link in bullet.sources
    ]


def at(day: int, hour: int, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=BERLIN)


async def test_a_scheduled_run_posts_the_day_since_the_last_digest(tmp_path: Path) -> None:
    clock = Clock(at(2, 17, 0, month=5))
    scheduler, platform, state = make(tmp_path, clock=clock)
    ids = chat(platform, at(2, 9), 4)
    digest = await scheduler.run_scheduled(GENERAL.job_id)
    assert digest is not None and len(platform.posts) == 1
    post = platform.posts[0]
    assert post.channel.channel == "C1" and post.digest is digest
    assert "2024-05-01 17:00 to 2024-05-02 17:00 CEST" in post.text
    assert set(posted_sources(platform)) <= set(ids)
    [record] = state.digests("slack", record_channel(GENERAL))
    assert record.status == "posted" and record.message_id == post.id
    assert record.window_start == at(1, 17) and record.window_end == at(2, 17)


async def test_jobs_persist_across_a_restart(tmp_path: Path) -> None:
    first, _, state = make(tmp_path)
    await first.start()
    [(channel, next_run)] = first.jobs()
    assert channel == GENERAL and next_run is not None
    assert next_run.astimezone(BERLIN).hour == 17
    await first.stop()
    rows = sqlite3.connect(tmp_path / "jobs.sqlite3").execute("SELECT id FROM apscheduler_jobs").fetchall()
    assert rows == [(GENERAL.job_id,)]

    second, _, _ = make(tmp_path, state=state)
    await second.start()
    assert second.jobs() == [(GENERAL, next_run)]
    await second.stop()

    # A changed schedule replaces the stored job; a channel no longer configured loses its job.
    moved = replace(GENERAL, cron="30 8 * * 1-5")
    other = replace(GENERAL, channel="C2", name="random")
    third, _, _ = make(tmp_path, state=state, channels=(moved, other))
    await third.start()
    times = dict((c.channel, t) for c, t in third.jobs())
    assert times["C1"] is not None and (times["C1"].astimezone(BERLIN).hour, times["C1"].minute) == (8, 30)
    await third.stop()
    fourth, _, _ = make(tmp_path, state=state, channels=(other,))
    await fourth.start()
    await fourth.stop()
    rows = sqlite3.connect(tmp_path / "jobs.sqlite3").execute("SELECT id FROM apscheduler_jobs").fetchall()
    assert rows == [(other.job_id,)]


async def test_a_run_missed_while_down_fires_once_after_restart(tmp_path: Path) -> None:
    first, platform, state = make(tmp_path)
    await first.start()
    await first.stop()
    # The bot was down when the job was due five minutes ago (within the grace time): the
    # job store says so, as it would after real downtime.
    now = datetime.now(UTC)
    set_next_run_time(tmp_path / "jobs.sqlite3", GENERAL.job_id, now - timedelta(minutes=5))
    until = latest_fire_time(cron_trigger(GENERAL), now)
    assert until is not None
    chat(platform, until - timedelta(hours=3), 3)

    second, _, _ = make(tmp_path, platform=platform, state=state)
    await second.start()
    for _ in range(200):
        if platform.posts:
            break
        await asyncio.sleep(0.02)
    await second.stop()
    assert len(platform.posts) == 1
    [record] = state.digests("slack", record_channel(GENERAL))
    assert record.window_end == until


async def test_a_double_fire_and_a_second_replica_post_once(tmp_path: Path) -> None:
    clock = Clock(at(2, 17, 0, month=5) + timedelta(seconds=2))
    scheduler, platform, state = make(tmp_path, clock=clock)
    replica, _, _ = make(tmp_path, clock=Clock(at(2, 17, 0, month=5) + timedelta(seconds=40)), platform=platform, state=StateStore(tmp_path / "state.sqlite3"))
    chat(platform, at(2, 9), 5)
    results = await asyncio.gather(
        scheduler.run_scheduled(GENERAL.job_id), scheduler.run_scheduled(GENERAL.job_id), replica.run_scheduled(GENERAL.job_id)
    )
    assert sum(result is not None for result in results) == 1
    assert len(platform.posts) == 1
    assert len(state.digests("slack", record_channel(GENERAL))) == 1


async def test_a_crash_before_posting_is_retried_once_on_restart(tmp_path: Path) -> None:
    clock = Clock(at(2, 17))
    scheduler, platform, state = make(tmp_path, clock=clock)
    ids = chat(platform, at(2, 9), 4)
    down = ConnectionError("network down while posting")
    platform.fail_next_post = down
    with pytest.raises(ConnectionError) as raised:  # the process dies here (a scheduled run would report it)
        await scheduler.run_digest(GENERAL, until=at(2, 17))
    assert raised.value is down and platform.faults_fired == [down]  # the injected crash, nothing else
    assert platform.posts == []
    assert [r.status for r in state.digests()] == ["claimed"]

    restarted, _, _ = make(tmp_path, clock=clock, platform=platform, state=state)
    restarted.stale_after_s = 0  # the crashed process is gone
    await restarted.start()
    await restarted.stop()
    assert len(platform.posts) == 1
    assert set(posted_sources(platform)) <= set(ids)
    [record] = state.digests()
    assert record.status == "posted" and record.message_id == platform.posts[0].id
    # A later run does not post the window again.
    assert await restarted.run_scheduled(GENERAL.job_id) is None
    assert len(platform.posts) == 1


async def test_a_crash_after_posting_is_recorded_not_reposted(tmp_path: Path) -> None:
    clock = Clock(at(2, 17))
    scheduler, platform, state = make(tmp_path, clock=clock)
    chat(platform, at(2, 9), 4)
    lost = ConnectionError("reply lost after Slack accepted the post")
    platform.crash_after_next_post = lost
    with pytest.raises(ConnectionError) as raised:  # the process dies here
        await scheduler.run_digest(GENERAL, until=at(2, 17))
    assert raised.value is lost and platform.faults_fired == [lost]  # the injected crash, nothing else
    assert len(platform.posts) == 1

    clock.now = at(2, 17, 30)
    restarted, _, _ = make(tmp_path, clock=clock, platform=platform, state=state)
    restarted.stale_after_s = 0
    await restarted.run_digest(GENERAL)
    assert len(platform.posts) == 1  # found on the platform, not posted again
    records = state.digests()
    assert records[0].status == "posted" and records[0].message_id == platform.posts[0].id


async def test_the_window_after_a_missed_run_covers_the_gap_once(tmp_path: Path) -> None:
    clock = Clock(at(2, 17))
    scheduler, platform, state = make(tmp_path, clock=clock)
    day2 = chat(platform, at(2, 9), 3, first=1)
    await scheduler.run_scheduled(GENERAL.job_id)
    day3 = chat(platform, at(3, 9), 3, first=10)  # the 3 May run never happened
    day4 = chat(platform, at(4, 9), 3, first=20)
    clock.now = at(4, 17, 45)  # and the 4 May one ran late
    await scheduler.run_scheduled(GENERAL.job_id)
    windows = [(r.window_start, r.window_end) for r in state.digests()]
    assert windows == [(at(1, 17), at(2, 17)), (at(2, 17), at(4, 17))]
    sources = posted_sources(platform)
    assert set(sources) <= set(day2 + day3 + day4)
    assert {m for m in sources if m in day3} and {m for m in sources if m in day4}
    first_post = {link for link in sources[: len(posted_sources_of(platform, 0))]}
    assert not first_post & set(day3 + day4)


def posted_sources_of(platform: MemoryPlatform, index: int) -> list[str]:
    digest = platform.posts[index].digest
    assert digest is not None
    return [link.message_id for s in digest.sections for b in s.bullets for link in b.sources]


async def test_daylight_saving_changes_keep_local_time_and_contiguous_windows(tmp_path: Path) -> None:
    clock = Clock(datetime(2024, 3, 30, 12, 0, tzinfo=UTC))
    scheduler, platform, state = make(tmp_path, clock=clock)
    [(_, before)] = scheduler.jobs()
    assert before is not None and before.astimezone(UTC) == datetime(2024, 3, 30, 16, 0, tzinfo=UTC)
    clock.now = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)  # Berlin switched to summer time at 02:00
    [(_, after)] = scheduler.jobs()
    assert after is not None and after.astimezone(UTC) == datetime(2024, 3, 31, 15, 0, tzinfo=UTC)

    chat(platform, datetime(2024, 3, 30, 10, tzinfo=BERLIN), 3, first=1)
    chat(platform, datetime(2024, 3, 31, 10, tzinfo=BERLIN), 3, first=10)
    clock.now = datetime(2024, 3, 30, 16, 0, 5, tzinfo=UTC)
    await scheduler.run_scheduled(GENERAL.job_id)
    clock.now = datetime(2024, 3, 31, 15, 0, 5, tzinfo=UTC)
    await scheduler.run_scheduled(GENERAL.job_id)
    first, second = state.digests()
    assert first.window_end == second.window_start
    assert second.window_end - second.window_start == timedelta(hours=23)
    assert second.window_end.astimezone(BERLIN).hour == 17
    assert "2024-03-30 17:00 to 2024-03-31 17:00 CET" in platform.posts[1].text


async def test_quiet_days_post_nothing_and_roll_into_the_next_digest(tmp_path: Path) -> None:
    clock = Clock(at(2, 17))
    scheduler, platform, state = make(tmp_path, clock=clock)
    quiet = chat(platform, at(2, 9), 1, first=1)
    assert await scheduler.run_scheduled(GENERAL.job_id) is None
    assert platform.posts == [] and state.digests() == []
    busy = chat(platform, at(3, 9), 3, first=10)
    clock.now = at(3, 17)
    # The first run looks back 24 hours; once a digest exists, windows follow each other.
    await scheduler.run_digest(GENERAL, since=at(1, 17))
    assert set(posted_sources(platform)) & set(quiet) and set(posted_sources(platform)) & set(busy)


async def test_a_quiet_note_and_a_separate_digest_channel(tmp_path: Path) -> None:
    noted = replace(GENERAL, quiet_note=True, target_channel="CDIGEST")
    clock = Clock(at(2, 17))
    scheduler, platform, state = make(tmp_path, clock=clock, channels=(noted,))
    chat(platform, at(2, 9), 1)
    assert await scheduler.run_scheduled(noted.job_id) is None
    [post] = platform.posts
    assert post.channel.channel == "CDIGEST"
    assert post.text == "A quiet day in #general: 1 message (2024-05-01 17:00 to 2024-05-02 17:00 CEST)."
    assert [r.status for r in state.digests()] == ["posted"]


async def test_a_missing_platform_is_a_config_error(tmp_path: Path) -> None:
    discord_channel = replace(GENERAL, platform="discord")
    scheduler, _, _ = make(tmp_path, clock=Clock(at(2, 17)), channels=(discord_channel,))
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="discord is not connected"):
        await scheduler.run_digest(discord_channel)


def test_replicas_opening_the_shared_job_store_at_once_create_its_table_once(postgres_server: str) -> None:
    """Replicas start together: each opens APScheduler's job store on the shared PostgreSQL at
    the same moment. Before the table was created under the database lock, APScheduler's
    check-then-create let two of them both create it, and one replica died of DuplicateTable."""
    import threading
    import uuid
    from types import SimpleNamespace

    from core.digests.scheduling import shared_job_store
    from tests.servers import create_database

    url = create_database(postgres_server, f"jobs_{uuid.uuid4().hex[:8]}")
    stores = [StateStore(url) for _ in range(6)]
    ready = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def open_store(state: StateStore) -> None:
        try:
            ready.wait(10)
            store = shared_job_store(state.engine)
            store.start(SimpleNamespace(), "default")  # APScheduler's own start: its check-then-create
        except BaseException as error:  # collected: a thread's exception would otherwise vanish
            failures.append(error)

    threads = [threading.Thread(target=open_store, args=(state,)) for state in stores]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert failures == []
        with stores[0].engine.connect() as db:
            from sqlalchemy import text

            assert db.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar() == 0
    finally:
        for state in stores:
            state.close()
