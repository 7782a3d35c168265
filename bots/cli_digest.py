"""``tidings summarize`` and ``tidings digest``: digests from the command line.

``summarize FILE`` runs the digest pipeline on an export (Slack export zip or folder,
DiscordChatExporter CSV/JSON, JSONL of Slack message events) with no platform connected, so
operators can try digests first. ``digest list`` shows the configured jobs with their next
run; ``digest run CHANNEL`` runs one now and posts it.

Each subcommand sets ``func`` (a function of the parsed arguments returning the exit
status); ``bots/cli.py`` calls it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.config import DigestChannel, Settings, load_settings
from core.errors import UserFacingError
from core.types import ChannelMessage, Digest


def register(subparsers: Any) -> None:
    summarize = subparsers.add_parser(
        "summarize",
        help="summarize a chat export into a digest (no platform needed)",
        description="Summarize a Slack export (zip or folder), a DiscordChatExporter CSV/JSON or a JSONL of "
        "Slack message events with the digest pipeline, and print it.",
    )
    summarize.add_argument("file", type=Path, help="the export file or folder")
    summarize.add_argument("--channel", help="only this channel (name or id); default: every channel, one digest each")
    summarize.add_argument("--day", help="only this day, YYYY-MM-DD (UTC), or today / yesterday / 6h ...")
    summarize.add_argument("--json", action="store_true", help="print JSON (one object per channel) instead of Markdown")
    summarize.set_defaults(func=run_summarize)

    digest = subparsers.add_parser("digest", help="scheduled channel digests: list jobs, run one now")
    actions = digest.add_subparsers(dest="digest_command", required=True)
    listing = actions.add_parser("list", help="each digest (config file and chat) with its next and last run")
    listing.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of objects: platform, workspace, channel, cron, timezone, source, next_run, last_run, last_result",
    )
    listing.set_defaults(func=run_list)
    run = actions.add_parser("run", help="summarize and post one channel's digest now")
    run.add_argument("channel", help="the channel's name, id or job id as configured in [[digests.channels]]")
    run.add_argument("--since", help="start of the window: 6h, 2d, yesterday, 2024-05-01 (default: since the last digest)")
    run.set_defaults(func=run_digest_now)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None), home=getattr(args, "home", None))


# -- tidings summarize -------------------------------------------------------------------


def _channel_key(message: ChannelMessage) -> str:
    return message.channel.scope


def select_messages(
    messages: Sequence[ChannelMessage], *, channel: str | None, day: str | None, now: datetime | None = None
) -> tuple[dict[str, list[ChannelMessage]], tuple[datetime, datetime] | None]:
    """Messages grouped per channel, narrowed to ``channel`` and ``day`` when given."""
    from core.digests.windows import parse_window

    window = parse_window(day, now=now or datetime.now(UTC)) if day else None
    groups: dict[str, list[ChannelMessage]] = {}
    for message in messages:
        ref = message.channel
        if channel and channel.lstrip("#") not in {ref.name, ref.channel, ref.scope}:
            continue
        if window and not window[0] <= message.timestamp < window[1]:
            continue
        groups.setdefault(_channel_key(message), []).append(message)
    return groups, window


def run_summarize(args: argparse.Namespace) -> int:
    from core.knowledge.loaders import read_messages

    messages = read_messages(args.file)
    groups, window = select_messages(messages, channel=args.channel, day=args.day)
    if not groups:
        what = f" in channel {args.channel}" if args.channel else ""
        when = f" on {args.day}" if args.day else ""
        print(f"No messages{what}{when} in {args.file}.", file=sys.stderr)
        return 1
    from bots.wiring import build_services

    services = build_services(_settings(args))
    summarizer = services.summarizer
    if summarizer is None:  # pragma: no cover - wiring always builds one
        print("Digests are not available in this build.", file=sys.stderr)
        return 1

    async def summarize_all() -> list[Digest]:
        return [await summarizer.summarize(group, window=window) for group in groups.values()]

    try:
        digests = asyncio.run(summarize_all())
    finally:
        services.worker.shutdown()
    from core.digests.format import digest_to_dict, digest_to_markdown

    for index, digest in enumerate(digests):
        if args.json:
            print(json.dumps(digest_to_dict(digest), ensure_ascii=False))
        else:
            if index:
                print()
            print(digest_to_markdown(digest))
    return 0


# -- tidings digest list / run -----------------------------------------------------------


def find_channel(settings: Settings, wanted: str) -> DigestChannel:
    """The digest named ``wanted`` (name, channel id or job id), from the config file or
    switched on from the chat."""
    from core.digests.scheduling import all_digests
    from core.runtime.state import StateStore

    state = StateStore(settings.state_path)
    try:
        channels = [channel for channel, _source in all_digests(settings, state).values()]
    finally:
        state.close()
    name = wanted.lstrip("#")
    for channel in channels:
        if name in {channel.name, channel.channel, channel.job_id}:
            return channel
    configured = ", ".join(c.name or c.channel for c in channels) or "none"
    raise UserFacingError(
        f"No digest is set for {wanted} (set: {configured}); add it under [[digests.channels]] or type /tidings digest on there."
    )


def run_list(args: argparse.Namespace) -> int:
    from core.digests.scheduling import digest_listing
    from core.runtime.state import StateStore

    settings = _settings(args)
    state = StateStore(settings.state_url, claim_lease_s=settings.state.claim_lease_s)
    try:
        listing = digest_listing(settings, state, now=datetime.now(UTC))
    finally:
        state.close()
    if getattr(args, "json", False):
        print(json.dumps([entry.as_dict() for entry in listing], ensure_ascii=False))
        return 0
    if not listing:
        print("No digests yet: add [[digests.channels]] entries to the config file, or type /tidings digest on in a channel.")
        return 0
    for entry in listing:
        channel = entry.channel
        zone = ZoneInfo(channel.timezone)
        label = f"{channel.platform} #{channel.name or channel.channel}"
        target = f" -> {channel.target_channel}" if channel.target_channel else ""
        next_text = entry.next_run.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if entry.next_run else "never"
        last_text = (
            f"{entry.last_run.astimezone(zone).strftime('%Y-%m-%d %H:%M %Z')}: {entry.last_result}" if entry.last_run else "none yet"
        )
        print(
            f"{label}{target}  cron '{channel.cron}' ({channel.timezone}, from the {entry.source})  "
            f"next: {next_text}  last run: {last_text}"
        )
    return 0


def run_digest_now(args: argparse.Namespace) -> int:
    from bots.wiring import build_platforms, build_services
    from core.digests.format import digest_to_markdown
    from core.digests.scheduling import DigestScheduler
    from core.digests.windows import parse_window

    settings = _settings(args)
    try:
        channel = find_channel(settings, args.channel)
        since = None
        if args.since:
            since = parse_window(args.since, now=datetime.now(UTC), tz=ZoneInfo(channel.timezone))[0]
    except UserFacingError as error:
        print(error.user_message, file=sys.stderr)
        return 2
    services = build_services(settings)
    platforms = build_platforms(settings, services)
    if services.summarizer is None:  # pragma: no cover - wiring always builds one
        print("Digests are not available in this build.", file=sys.stderr)
        return 1
    summarizer = services.summarizer

    async def run() -> Digest | None:
        async with contextlib.AsyncExitStack() as connections:
            connected = dict(platforms)
            if channel.platform == "discord" and "discord" not in connected:
                from bots.discord_bot import discord_over_rest

                connected["discord"] = await connections.enter_async_context(discord_over_rest(settings))
            scheduler = DigestScheduler(settings=settings, state=services.state, summarizer=summarizer, platforms=connected)
            return await scheduler.run_digest(channel, since=since)

    try:
        digest = asyncio.run(run())
    except UserFacingError as error:
        print(error.user_message, file=sys.stderr)
        return 2
    finally:
        services.worker.shutdown()
    if digest is None:
        print(f"Nothing posted for {args.channel}: the window was quiet or is already posted.")
    else:
        print(digest_to_markdown(digest))
    return 0
