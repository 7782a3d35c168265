"""Daily digests on a schedule: APScheduler in the bot's own event loop, idempotent posting.

Each ``[[digests.channels]]`` entry is one cron job in a persistent job store (coalesced, with
a misfire grace time, at most one instance), so a bot that was down at 17:00 still runs the
missed digest once when it comes back within the grace time. The store is a SQLite file under
``TIDINGS_HOME``, or APScheduler's ``SQLAlchemyJobStore`` in the state database when that is
PostgreSQL (``[state] url``): replicas then share one job table, and whichever fires a job
first claims its window.

A digest covers "since the last digest of this channel" (first run: the last 24 hours) until
the time the job was scheduled for, so a late run or a missed day leaves no gap and no
overlap. Posting is idempotent through ``StateStore``: the window is claimed under
(platform, channel, window) before anything is summarised, and marked posted with the
message id after. Two fires of the same schedule compute the same window, so only one claim
wins - in one process, across a restart, or across replicas sharing the state database. The
claim is a lease (``[state] claim_lease_s``) its owner renews while it summarises and posts,
so a replica that dies mid-digest leaves a claim that goes stale within one lease.

The one gap a record cannot close is a crash after the platform accepted the post and before
the post was recorded. A claim left unfinished for longer than a digest can take is resolved
by asking the platform: the target channel's recent history is searched for a digest of that
window (its text names the window); if found it is recorded as posted, otherwise that window
is summarised and posted again (a stale claim is retried). This happens at start-up and
before every run of the channel. That search needs the adapter's
``fetch_history`` to return the bot's own posts (as noise-marked messages); where it cannot,
the trade-off is one possible duplicate rather than a lost digest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.config import DigestChannel, Settings, digest_target_problem
from core.digests.conversations import meaningful
from core.digests.format import digest_to_markdown, window_text
from core.errors import ConfigError, UserFacingError
from core.ports import ChatPlatform
from core.runtime.state import DigestRecord, DigestSubscription, StateStore
from core.services import SummarizesChannels
from core.types import ChannelRef, Digest

log = logging.getLogger(__name__)

FIRST_WINDOW = timedelta(hours=24)

# APScheduler's persistent job store keeps a textual reference to the job function and its
# arguments, never a live object; a fired job finds the DigestScheduler of this process by
# the job store path it was given. Weak, so a stopped scheduler is not kept alive.
_RUNNING: weakref.WeakValueDictionary[str, DigestScheduler] = weakref.WeakValueDictionary()


async def fire_digest(store: str, job_id: str) -> None:
    """The job function APScheduler calls (by reference) at each scheduled time."""
    scheduler = _RUNNING.get(store)
    if scheduler is None:
        log.warning("digest job %s fired with no running scheduler for %s", job_id, store)
        return
    await scheduler.run_scheduled(job_id)


def record_channel(channel: DigestChannel) -> str:
    """The channel key digest records are stored under (unique across workspaces)."""
    return f"{channel.workspace}:{channel.channel}" if channel.workspace else channel.channel


def cron_trigger(channel: DigestChannel) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(channel.cron, timezone=ZoneInfo(channel.timezone))
    except ValueError as error:
        raise ConfigError(f"[[digests.channels]] {channel.channel}: cron {channel.cron!r} is not valid: {error}") from None


def latest_fire_time(trigger: Any, now: datetime) -> datetime | None:
    """The last time at or before ``now`` the trigger fired: the end of a scheduled window,
    the same for every fire of one schedule however late it runs."""
    for lookback in (timedelta(hours=2), timedelta(days=2), timedelta(days=9), timedelta(days=32), timedelta(days=367)):
        moment = trigger.get_next_fire_time(None, now - lookback)
        if moment is None or moment > now:
            continue
        while True:
            following = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
            if following is None or following > now:
                return moment  # type: ignore[no-any-return]
            moment = following
    return None


def subscription_channel(subscription: DigestSubscription) -> DigestChannel:
    """A digest switched on from the chat, as the scheduler runs it (posted in its channel)."""
    return DigestChannel(
        platform=subscription.platform,
        channel=subscription.channel,
        workspace=subscription.workspace,
        name=subscription.name,
        cron=subscription.cron,
        timezone=subscription.timezone,
    )


@dataclass(frozen=True)
class DigestListing:
    """One digest as ``tidings digest list --json``, ``/tidings digest list`` and the Slack
    App Home show it."""

    channel: DigestChannel
    source: str
    """``config`` (``[[digests.channels]]``) or ``chat`` (``/tidings digest on``)."""
    next_run: datetime | None
    last_run: datetime | None
    last_result: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": self.channel.platform,
            "workspace": self.channel.workspace,
            "channel": self.channel.channel,
            "name": self.channel.name,
            "cron": self.channel.cron,
            "timezone": self.channel.timezone,
            "source": self.source,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_run": self.last_run.isoformat() if self.last_run else None,
            "last_result": self.last_result,
        }


def all_digests(settings: Settings, state: StateStore) -> dict[str, tuple[DigestChannel, str]]:
    """Every digest by job id with its source: the config file's, then the chat's (a channel
    the config file already covers keeps the config's schedule)."""
    found: dict[str, tuple[DigestChannel, str]] = {c.job_id: (c, "config") for c in settings.digests.channels}
    for subscription in state.digest_subscriptions():
        channel = subscription_channel(subscription)
        found.setdefault(channel.job_id, (channel, "chat"))
    return found


def digest_listing(
    settings: Settings,
    state: StateStore,
    *,
    now: datetime,
    platform: str | None = None,
    workspace: str | None = None,
) -> list[DigestListing]:
    """Each digest (of one platform and workspace when given) with its next run (from its
    schedule) and how its latest run went."""
    runs = state.digest_runs()
    listing = []
    for job_id, (channel, source) in all_digests(settings, state).items():
        if platform is not None and channel.platform != platform:
            continue
        if workspace is not None and channel.workspace != workspace:
            continue
        next_run = cron_trigger(channel).get_next_fire_time(None, now)
        run = runs.get(job_id)
        listing.append(
            DigestListing(
                channel=channel,
                source=source,
                next_run=next_run,
                last_run=run.last_run if run else None,
                last_result=run.last_result if run else None,
            )
        )
    return listing


def failure_reason(error: BaseException) -> str:
    """A failure in a few words a channel may read (never a traceback or a token)."""
    if isinstance(error, UserFacingError):
        return error.user_message
    if isinstance(error, ConfigError):
        return str(error)
    reason = getattr(error, "response", None)
    code = reason.get("error") if isinstance(reason, Mapping) else None
    if code is None and reason is not None:
        try:
            code = reason.get("error")
        except Exception:
            code = None
    return f"{type(error).__name__}{f' ({code})' if code else ''}"


def shared_job_store(engine: Any) -> Any:
    """APScheduler's job store in the shared state database, its table created once.

    APScheduler creates its table on start after checking that it is missing; two replicas
    starting together both find it missing, both create it, and one dies of DuplicateTable
    (a replica that had already begun answering stopped mid-burst). The table is created here
    under the database lock the migrations take, so APScheduler's own check then finds it."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from core.runtime.migrations import database_lock

    store = SQLAlchemyJobStore(engine=engine)
    with database_lock(engine):
        store.jobs_t.create(engine, checkfirst=True)
    return store


class DigestScheduler:
    """Schedules, runs and posts the configured channel digests and those switched on from
    the chat (``StateStore.digest_subscriptions``), which ``reload()`` applies at once."""

    def __init__(
        self,
        *,
        settings: Settings,
        state: StateStore,
        summarizer: SummarizesChannels,
        platforms: Mapping[str, ChatPlatform],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.summarizer = summarizer
        self.platforms = platforms
        self.clock = clock or (lambda: datetime.now(UTC))
        self.channels: dict[str, DigestChannel] = {}
        self._load_channels()
        self.store_path = settings.home / "jobs.sqlite3"
        self.shared_store = getattr(state, "dialect", "sqlite") == "postgresql"
        # The name a fired job finds this scheduler by: the same on every replica of a shared
        # job store (the arguments stored with the job must not differ between replicas).
        self.store_key = "state-database" if self.shared_store else str(self.store_path)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # A claim not renewed for this long belongs to a process that died; a live owner
        # renews it every third of that while it summarises and posts.
        self.stale_after_s = settings.state.claim_lease_s
        self._scheduler: Any = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._outcomes: dict[str, str] = {}

    def _load_channels(self) -> None:
        found = all_digests(self.settings, self.state)
        self.channels = {job_id: channel for job_id, (channel, _source) in found.items()}

    def reload(self) -> None:
        """Apply the chat's digests as the state store has them now: new ones scheduled,
        changed ones rescheduled, switched-off ones removed."""
        self._load_channels()
        if self._scheduler is not None:
            self._sync_jobs()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the job store, bring its jobs in line with the config, resolve digests a
        crashed process left half done, then start firing."""
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        if self.shared_store:
            store = shared_job_store(self.state.engine)
        else:
            self.store_path.parent.mkdir(parents=True, exist_ok=True)
            store = SQLAlchemyJobStore(url=f"sqlite:///{self.store_path}")
        scheduler = AsyncIOScheduler(
            jobstores={"default": store},
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": self.settings.digests.misfire_grace_s,
                "max_instances": 1,
            },
            timezone=UTC,
        )
        _RUNNING[self.store_key] = self
        # Paused: the job store is open (so jobs can be compared) but nothing fires yet.
        scheduler.start(paused=True)
        self._scheduler = scheduler
        self._sync_jobs()
        for channel in self.channels.values():
            await self._resolve_stale_claims(channel)
        scheduler.resume()

    async def stop(self) -> None:
        if self._scheduler is not None:
            scheduler, self._scheduler = self._scheduler, None
            scheduler.shutdown(wait=False)
            # AsyncIOScheduler shuts down in a loop callback; until it has, it may still
            # wake up and fire jobs from the shared store, so wait for it.
            while scheduler.running:
                await asyncio.sleep(0)
        if _RUNNING.get(self.store_key) is self:
            _RUNNING.pop(self.store_key, None)

    def _sync_jobs(self) -> None:
        """Keep stored jobs whose schedule is unchanged (their next run time, possibly in the
        past after downtime, is what makes a missed run fire); replace changed ones; remove
        jobs of channels no longer configured."""
        scheduler = self._scheduler
        for job in scheduler.get_jobs():
            if job.id.startswith("digest:") and job.id not in self.channels:
                log.info("removing digest job %s: no longer configured", job.id)
                scheduler.remove_job(job.id)
        for job_id, channel in self.channels.items():
            trigger = cron_trigger(channel)
            existing = scheduler.get_job(job_id)
            args = [self.store_key, job_id]
            if existing is not None and repr(existing.trigger) == repr(trigger) and list(existing.args) == args:
                continue
            scheduler.add_job(
                fire_digest,
                trigger=trigger,
                args=args,
                id=job_id,
                name=f"digest of {channel.name or channel.channel}",
                replace_existing=True,
            )

    def jobs(self) -> list[tuple[DigestChannel, datetime | None]]:
        """Each configured channel with its next run time (from the job store when started)."""
        result: list[tuple[DigestChannel, datetime | None]] = []
        now = self.clock()
        for job_id, channel in self.channels.items():
            job = self._scheduler.get_job(job_id) if self._scheduler is not None else None
            if job is not None:
                result.append((channel, job.next_run_time))
            else:
                result.append((channel, cron_trigger(channel).get_next_fire_time(None, now)))
        return result

    # -- running digests ----------------------------------------------------------------

    async def run_scheduled(self, job_id: str) -> Digest | None:
        """One scheduled run. A failure is recorded (``tidings digest list``, ``/metrics``)
        and reported in one short notice in the channel, or in ``[digests] admin_channel``."""
        channel = self.channels.get(job_id)
        if channel is None:
            self._load_channels()  # switched on from the chat in another replica
            channel = self.channels.get(job_id)
        if channel is None:
            log.warning("digest job %s is not configured any more", job_id)
            return None
        until = latest_fire_time(cron_trigger(channel), self.clock()) or self.clock()
        self._outcomes.pop(job_id, None)
        try:
            digest = await self.run_digest(channel, until=until)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("the scheduled digest of %s failed", channel.ref.label)
            reason = failure_reason(error)
            self.state.record_digest_run(job_id, platform=channel.platform, result=f"failed: {reason}", failed=True, at=self.clock())
            await self._report_failure(channel, reason)
            return None
        result = "posted" if digest is not None else self._outcomes.get(job_id, "nothing new")
        self.state.record_digest_run(job_id, platform=channel.platform, result=result, at=self.clock())
        return digest

    def admin_target(self, channel: DigestChannel) -> ChannelRef:
        """Where a failure of ``channel``'s digest is reported."""
        admin = self.settings.digests.admin_channel.strip()
        if not admin:
            return channel.target
        parts = admin.split(":")
        if len(parts) == 3:
            return ChannelRef(parts[0], parts[1], parts[2])
        return ChannelRef(channel.platform, channel.workspace, admin.lstrip("#"))

    async def _report_failure(self, channel: DigestChannel, reason: str) -> None:
        target = self.admin_target(channel)
        note = f"⚠️ Today's digest of {channel.ref.label} could not be made: {reason}. The details are in Tidings' log."
        try:
            platform = self._platform(target)
            await platform.post(target, note)
        except Exception:
            log.exception("could not post the notice about the failed digest of %s in %s", channel.ref.label, target.channel)

    async def run_digest(
        self, channel: DigestChannel, *, since: datetime | None = None, until: datetime | None = None
    ) -> Digest | None:
        """Summarise and post one window of ``channel``; None when nothing was posted (the
        window is already posted or in progress elsewhere, or the channel was quiet)."""
        problem = digest_target_problem(channel, self.settings.access.grants)
        if problem:
            raise ConfigError(problem)
        lock = self._locks.setdefault(channel.job_id, asyncio.Lock())
        async with lock:
            await self._resolve_stale_claims(channel)
            zone = ZoneInfo(channel.timezone)
            until = (until or self.clock()).astimezone(zone)
            key = record_channel(channel)
            if since is None:
                last = self.state.last_digest_end(channel.platform, key)
                since = last if last is not None else until - FIRST_WINDOW
            since = since.astimezone(zone)
            if since >= until:
                self._outcomes[channel.job_id] = "nothing new"
                return None
            if self.state.claim_digest(
                channel.platform, key, since, until, owner=self.owner, stale_after_s=self.stale_after_s
            ) is None:
                self._outcomes[channel.job_id] = "already posted"
                log.info("digest of %s for %s..%s is already posted or in progress", key, since, until)
                return None
            return await self._summarize_and_post(channel, since, until)

    async def _summarize_and_post(self, channel: DigestChannel, since: datetime, until: datetime) -> Digest | None:
        renewer = asyncio.create_task(self._renew(channel, since, until))
        try:
            return await self._summarize_and_post_claimed(channel, since, until)
        finally:
            renewer.cancel()

    async def _renew(self, channel: DigestChannel, since: datetime, until: datetime) -> None:
        """Keep this process's claim on the window alive while it works on it."""
        key = record_channel(channel)
        while True:
            await asyncio.sleep(max(self.stale_after_s / 3, 0.05))
            try:
                held = await asyncio.to_thread(
                    self.state.renew_digest, channel.platform, key, since, until, owner=self.owner
                )
            except Exception:
                log.warning("could not renew the claim on the digest of %s; retrying", key, exc_info=True)
                continue
            if not held:
                return

    async def _summarize_and_post_claimed(self, channel: DigestChannel, since: datetime, until: datetime) -> Digest | None:
        key = record_channel(channel)
        platform = self._platform(channel)
        try:
            messages = await platform.fetch_history(channel.ref, since, until)
            kept = meaningful(messages)
            if len(kept) < channel.min_messages:
                await self._quiet(channel, since, until, len(kept))
                return None
            digest = await self.summarizer.summarize(messages, channel=channel.ref, window=(since, until))
        except BaseException:
            # Nothing reached the platform: give the window back so the next run covers it.
            self.state.release_digest(channel.platform, key, since, until)
            raise
        # From here on a failure may have posted: the claim stays, and goes stale, and is
        # resolved by looking for the post (see the module docstring).
        message_id = await platform.post(channel.target, digest_to_markdown(digest), digest=digest)
        self.state.finish_digest(channel.platform, key, since, until, message_id=message_id)
        log.info("posted digest of %s for %s..%s as %s", key, since, until, message_id)
        return digest

    async def _quiet(self, channel: DigestChannel, since: datetime, until: datetime, count: int) -> None:
        key = record_channel(channel)
        self._outcomes[channel.job_id] = f"quiet ({count} messages)"
        if not channel.quiet_note:
            # Nothing posted and nothing recorded: the few messages roll into the next digest.
            self.state.release_digest(channel.platform, key, since, until)
            return None
        plural = "message" if count == 1 else "messages"
        note = f"A quiet day in {channel.ref.label}: {count} {plural} ({window_text(since, until)})."
        message_id = await self._platform(channel).post(channel.target, note)
        self.state.finish_digest(channel.platform, key, since, until, message_id=message_id)
        return None

    def _platform(self, channel: DigestChannel | ChannelRef) -> ChatPlatform:
        platform = self.platforms.get(channel.platform)
        if platform is None:
            raise ConfigError(
                f"A digest is set for {channel.platform} channel {channel.channel}, but {channel.platform} is not connected."
            )
        return platform

    async def _resolve_stale_claims(self, channel: DigestChannel) -> None:
        """Claims a dead process left behind: recorded as posted when the platform shows the
        post, otherwise that same window is summarised and posted now (late, but no gap:
        later digests may already have started after it)."""
        key = record_channel(channel)
        zone = ZoneInfo(channel.timezone)
        for record in self.state.digests(channel.platform, key):
            if record.status != "claimed":
                continue
            taken = self.state.claim_digest(
                channel.platform, key, record.window_start, record.window_end, owner=self.owner, stale_after_s=self.stale_after_s
            )
            if taken is None:
                continue  # still fresh: its owner may be alive and posting
            posted = await self._find_post(channel, record)
            if posted is not None:
                log.info("digest of %s for %s..%s was posted as %s before a crash", key, record.window_start, record.window_end, posted)
                self.state.finish_digest(channel.platform, key, record.window_start, record.window_end, message_id=posted)
            else:
                log.info("retrying the digest of %s for %s..%s left unfinished by a crash", key, record.window_start, record.window_end)
                await self._summarize_and_post(channel, record.window_start.astimezone(zone), record.window_end.astimezone(zone))

    async def _find_post(self, channel: DigestChannel, record: DigestRecord) -> str | None:
        zone = ZoneInfo(channel.timezone)
        marker = window_text(record.window_start.astimezone(zone), record.window_end.astimezone(zone))
        platform = self._platform(channel)
        try:
            history = await platform.fetch_history(channel.target, record.window_end, self.clock() + timedelta(minutes=1))
        except Exception:
            log.exception("could not check %s for an earlier digest post; assuming none", channel.channel)
            return None
        for message in history:
            if marker in message.text:
                return message.id
        return None
