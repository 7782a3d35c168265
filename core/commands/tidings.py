"""``/tidings``: digests, sources, unanswered questions, help and "forget me", the same on every platform.

The adapters only translate: Slack passes the command's text as typed, Discord builds the same
text from its command group's options; both say who asked, where, whether the platform lets
that person manage the channel (Slack workspace admins and owners, Discord Manage Channels),
and how to check that the bot can read the channel (``probe``, raising ``NotInChannel`` or
``MissingPermission``). Everything else, parsing included, happens here: bad input gets one
clear sentence and changes nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.answers.access import Gatekeeper
from core.answers.questions import truncate
from core.config import Settings
from core.digests.scheduling import cron_trigger, digest_listing, subscription_channel
from core.errors import UserFacingError
from core.ports import KnowledgeBase
from core.runtime.state import DigestSubscription, StateStore
from core.types import ChannelRef

DEFAULT_TIME = (17, 0)
COMMAND = "/tidings"
UNANSWERED_SPAN = timedelta(days=7)
# Ten questions of at most 120 characters keep the reply within Discord's 2,000; the
# command line lists the rest, whole.
UNANSWERED_SHOWN = 10
UNANSWERED_CHARS = 120

HELP = (
    "*/tidings* sets me up for this channel:\n"
    "• `/tidings digest on [HH:MM] [Area/City]`: a daily digest of this channel (default 17:00, your time zone)\n"
    "• `/tidings digest off`: no more digests here\n"
    "• `/tidings digest list`: this workspace's digests with their next run\n"
    "• `/tidings sources`: what answers in this channel may read\n"
    "• `/tidings unanswered`: this week's questions here that the knowledge base could not answer\n"
    "• `/tidings forget me`: delete everything I stored about you (asks first)\n"
    "• `/tidings help`: this message"
)


class NotInChannel(Exception):
    """The bot is not a member of the channel (Slack ``not_in_channel``), or cannot see it."""


class MissingPermission(Exception):
    """The bot lacks an OAuth scope (Slack) or a channel permission (Discord) it needs."""

    def __init__(self, name: str, *, kind: str = "OAuth scope") -> None:
        super().__init__(name)
        self.name = name
        self.kind = kind


@dataclass(frozen=True)
class Asker:
    """Who typed ``/tidings`` and where, as the adapter read it from the platform."""

    user: str
    channel: ChannelRef
    may_manage: bool = False
    """Slack workspace admin or owner; Discord Manage Channels in this channel."""
    timezone: str = ""
    """The asker's (or workspace's) IANA time zone, "" when the platform does not say."""
    is_direct: bool = False
    """Asked in a direct message with the bot, where there is no channel to digest."""


@dataclass(frozen=True)
class Reply:
    """What the asker sees (only they see it)."""

    text: str


# -- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    name: str
    """``help``, ``sources``, ``unanswered``, ``digest on``, ``digest off``, ``digest list``, ``forget me``."""
    hour: int = DEFAULT_TIME[0]
    minute: int = DEFAULT_TIME[1]
    zone: str = ""
    confirmed: bool = False


_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?$")


def _time(word: str) -> tuple[int, int] | None:
    match = _TIME.match(word)
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2] or 0)
    if hour > 23 or minute > 59:
        raise UserFacingError(f"{word} is not a time of day; give it as HH:MM, from 00:00 to 23:59 (for example 17:00).")
    return hour, minute


def _zone(word: str) -> str:
    try:
        ZoneInfo(word)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserFacingError(
            f"{word} is not a time zone I know; use an Area/City name such as Europe/Berlin or America/New_York."
        ) from None
    return word


def parse(text: str) -> Command:
    """The command in ``text`` (what follows ``/tidings``), or ``UserFacingError`` saying
    what is wrong and how to write it."""
    words = text.strip().split()
    lowered = [w.lower() for w in words]
    if not words or lowered == ["help"]:
        return Command("help")
    if lowered == ["sources"]:
        return Command("sources")
    if lowered == ["unanswered"]:
        return Command("unanswered")
    if lowered[:2] == ["forget", "me"] and len(words) <= 3:
        if len(words) == 2:
            return Command("forget me")
        if lowered[2] == "confirm":
            return Command("forget me", confirmed=True)
    if lowered[0] == "digest":
        if lowered[1:] in (["off"], ["list"]):
            return Command(f"digest {lowered[1]}")
        if len(words) >= 2 and lowered[1] == "on" and len(words) <= 4:
            hour, minute = DEFAULT_TIME
            zone = ""
            for word in words[2:]:
                at = _time(word)
                if at is not None:
                    hour, minute = at
                else:
                    zone = _zone(word)
            return Command("digest on", hour=hour, minute=minute, zone=zone)
        raise UserFacingError("Write `/tidings digest on [HH:MM] [Area/City]`, `/tidings digest off` or `/tidings digest list`.")
    raise UserFacingError(f"I don't know `{COMMAND} {text.strip()[:60]}`. Try `{COMMAND} help`.")


# -- running --------------------------------------------------------------------------------

Probe = Callable[[], Awaitable[None]]


def _not_allowed() -> UserFacingError:
    return UserFacingError(
        "Only workspace admins and owners (on Discord: members who may manage this channel) can change "
        "digests, so I changed nothing. Ask one of them, or to be added to [access] admins."
    )


def _probe_problem(error: Exception) -> UserFacingError:
    if isinstance(error, MissingPermission) and error.kind == "OAuth scope":
        return UserFacingError(
            f"I'm missing the OAuth scope `{error.name}` to read this channel: add it to the Slack app's bot scopes, "
            "reinstall the app, and try again. Nothing was changed."
        )
    if isinstance(error, MissingPermission):
        return UserFacingError(
            f"I'm missing the {error.kind} `{error.name}` here: give it to my role in this channel and try again. "
            "Nothing was changed."
        )
    return UserFacingError(
        "I'm not in this channel, so I can't read it: invite me first (/invite @Tidings), then try again. Nothing was changed."
    )


class TidingsCommands:
    """Runs ``/tidings`` for any platform. ``on_digests_changed`` are called after a digest
    is switched on or off (the running scheduler's ``reload``), so it applies at once."""

    def __init__(
        self,
        *,
        settings: Settings,
        state: StateStore,
        knowledge_base: KnowledgeBase,
        gatekeeper: Gatekeeper,
        digests_available: bool,
        on_digests_changed: Iterable[Callable[[], None]] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.state = state
        self.knowledge_base = knowledge_base
        self.gatekeeper = gatekeeper
        self.digests_available = digests_available
        self.on_digests_changed = on_digests_changed
        self.clock = clock

    async def run(self, text: str, asker: Asker, *, probe: Probe | None = None) -> Reply:
        try:
            command = parse(text)
            return await self._run(command, asker, probe)
        except UserFacingError as error:
            return Reply(error.user_message)

    async def _run(self, command: Command, asker: Asker, probe: Probe | None) -> Reply:
        if command.name == "help":
            return Reply(HELP)
        if command.name == "sources":
            return await self._sources(asker)
        if command.name == "forget me":
            return await self._forget(asker, confirmed=command.confirmed)
        if command.name == "digest list":
            return Reply(self._digest_list(asker))
        if command.name == "unanswered":
            return await self._unanswered(asker)
        if asker.is_direct:
            raise UserFacingError("Digests are for channels: type this in the channel you want a daily digest of.")
        if not self.digests_available:
            raise UserFacingError("Digests are switched off for this bot ([digests] enabled = false); nothing was changed.")
        self._check_may_change(asker)
        configured = next(
            (c for c in self.settings.digests.channels if (c.platform, c.workspace, c.channel) == _key(asker.channel)), None
        )
        if configured is not None:
            raise UserFacingError(
                f"This channel's digest is set in the config file (cron `{configured.cron}`, {configured.timezone}); "
                "change it there. Nothing was changed."
            )
        if command.name == "digest off":
            removed = await asyncio.to_thread(self.state.unsubscribe_digest, *_key(asker.channel))
            if not removed:
                return Reply("This channel has no daily digest; nothing to switch off.")
            self._changed()
            return Reply(f"Daily digest of {asker.channel.label} switched off.")
        return await self._digest_on(command, asker, probe)

    def _may_manage(self, asker: Asker) -> bool:
        """Whether ``asker`` may change this channel's digest and see its unanswered questions."""
        return asker.may_manage or asker.user in self.settings.access.admins

    def _check_may_change(self, asker: Asker) -> None:
        if not self._may_manage(asker):
            raise _not_allowed()

    async def _digest_on(self, command: Command, asker: Asker, probe: Probe | None) -> Reply:
        zone = command.zone or asker.timezone or self.settings.digests.timezone
        if probe is not None:
            try:
                await probe()
            except (NotInChannel, MissingPermission) as error:
                raise _probe_problem(error) from None
        subscription = DigestSubscription(
            platform=asker.channel.platform,
            workspace=asker.channel.workspace,
            channel=asker.channel.channel,
            name=asker.channel.name,
            cron=f"{command.minute} {command.hour} * * *",
            timezone=zone,
            created_by=asker.user,
        )
        before = await asyncio.to_thread(self._subscription, asker.channel)
        await asyncio.to_thread(self.state.subscribe_digest, subscription)
        self._changed()
        next_run = cron_trigger(subscription_channel(subscription)).get_next_fire_time(None, self.clock())
        when = next_run.strftime("%a %d %b %H:%M %Z") if next_run else "never"
        at = f"{command.hour:02d}:{command.minute:02d} {zone}"
        if before is not None and (before.cron, before.timezone) != (subscription.cron, subscription.timezone):
            # The same command moves a digest: say so, so nobody thinks there are two now.
            return Reply(f"Daily digest of {asker.channel.label} moved to {at} (was {_time_of(before)}). Next: {when}.")
        return Reply(f"Daily digest of {asker.channel.label} on, at {at}. Next: {when}.")

    def _subscription(self, channel: ChannelRef) -> DigestSubscription | None:
        platform, workspace, key = _key(channel)
        found = [s for s in self.state.digest_subscriptions(platform, workspace) if s.channel == key]
        return found[0] if found else None

    def _changed(self) -> None:
        for listener in self.on_digests_changed:
            listener()

    def _digest_list(self, asker: Asker) -> str:
        listing = digest_listing(
            self.settings, self.state, now=self.clock(), platform=asker.channel.platform, workspace=asker.channel.workspace
        )
        if not listing:
            return "No digests in this workspace yet. `/tidings digest on` starts one for this channel."
        lines = ["Digests in this workspace:"]
        for entry in listing:
            channel = entry.channel
            zone = ZoneInfo(channel.timezone)
            label = f"#{channel.name}" if channel.name else channel.channel
            next_text = entry.next_run.astimezone(zone).strftime("%a %d %b %H:%M %Z") if entry.next_run else "never"
            last = f"; last: {entry.last_result}" if entry.last_result else ""
            lines.append(f"• {label}: cron `{channel.cron}` ({channel.timezone}, from the {entry.source}); next {next_text}{last}")
        return "\n".join(lines)

    async def _unanswered(self, asker: Asker) -> Reply:
        """The questions asked in this channel this week that the knowledge base could not
        answer: what to add to it. Other people's questions, so only for those who may manage
        the channel, and only this channel's (a private channel's questions stay in it)."""
        if asker.is_direct:
            raise UserFacingError("Type this in the channel whose unanswered questions you want to see.")
        if not self._may_manage(asker):
            raise UserFacingError(
                "Only workspace admins and owners (on Discord: members who may manage this channel) can see "
                "the questions others asked here. Ask one of them, or to be added to [access] admins."
            )
        questions = await asyncio.to_thread(
            self.state.unanswered_questions, since=self.clock() - UNANSWERED_SPAN, channel=asker.channel.scope
        )
        span = f"the last {UNANSWERED_SPAN.days} days"
        if not questions:
            return Reply(f"Every question asked in {asker.channel.label} in {span} was answered from the knowledge base.")
        lines = [f"Questions asked in {asker.channel.label} in {span} that the knowledge base could not answer:"]
        zone = ZoneInfo(asker.timezone or self.settings.digests.timezone)
        for q in questions[:UNANSWERED_SHOWN]:
            times = f"asked {q.times} times, last" if q.times > 1 else "asked"
            lines.append(f"• {truncate(q.question, UNANSWERED_CHARS)} ({times} {q.last_asked.astimezone(zone).strftime('%a %d %b')})")
        if len(questions) > UNANSWERED_SHOWN:
            lines.append(f"… and {len(questions) - UNANSWERED_SHOWN} more (`tidings feedback unanswered` lists them all).")
        lines.append("Adding documents that answer them (`tidings ingest PATH`) lets me answer next time.")
        return Reply("\n".join(lines))

    async def _sources(self, asker: Asker) -> Reply:
        scopes = self.gatekeeper.scopes(asker.channel)
        infos = await asyncio.to_thread(self.knowledge_base.sources, scopes)
        shown = ", ".join(f"`{s}`" for s in sorted(scopes))
        if not infos:
            return Reply(f"Answers here may read the scopes {shown}, which hold no documents yet.")
        chunks = sum(info.chunks for info in infos)
        lines = [f"Answers here may read the scopes {shown}: {len(infos)} sources, {chunks} chunks."]
        lines += [f"• {info.title or info.source} ({info.chunks} chunks)" for info in infos[:15]]
        if len(infos) > 15:
            lines.append(f"… and {len(infos) - 15} more.")
        return Reply("\n".join(lines))

    async def _forget(self, asker: Asker, *, confirmed: bool) -> Reply:
        if not confirmed:
            held = await asyncio.to_thread(self.state.about_user, asker.user)
            return Reply(
                f"I hold {held['answers']} of your questions with their answers, {held['feedback']} feedback records "
                f"and {held['pending']} questions in progress. To delete all of it for good, type "
                f"`{COMMAND} forget me confirm` (on Discord: `{COMMAND} forget confirm:True`). Nothing is deleted until then."
            )
        removed = await asyncio.to_thread(self.state.forget_user, asker.user)
        return Reply(
            f"Done: I deleted {removed['answers']} questions with their answers, {removed['feedback']} feedback records "
            f"and {removed['pending']} questions in progress."
        )


def _time_of(subscription: DigestSubscription) -> str:
    # Chat digests are daily at one time ("M H * * *"); a cron set otherwise is shown as written.
    minute, hour, *rest = subscription.cron.split()
    if rest == ["*", "*", "*"] and minute.isdigit() and hour.isdigit():
        return f"{int(hour):02d}:{int(minute):02d} {subscription.timezone}"
    return f"`{subscription.cron}` {subscription.timezone}"


def _key(channel: ChannelRef) -> tuple[str, str, str]:
    return channel.platform, channel.workspace, channel.channel
