"""A Slack workspace export (the .zip an admin downloads, or that zip unpacked into a folder).

Layout: ``channels.json`` (plus ``groups.json``, ``mpims.json``, ``dms.json`` for private
conversations when the export includes them), ``users.json``, and one folder per channel
with a ``YYYY-MM-DD.json`` array of messages per day. The files may sit inside one top
folder of the zip.

Scopes: the workspace part is the team id (``T…``) read from ``users.json`` or the messages,
so exported content lands in the same scope as the live channel. An export that names no
team uses the export's own name (the zip's or folder's name, e.g.
``slack:export-2020-12-07-to-2021-03-14:C06V96CKX``), and ``export`` when even that is empty.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from core.errors import LoaderError
from core.knowledge.loaders.archive import ExportFiles, FolderExport, ZipExport, is_ignored
from core.knowledge.loaders.reading import DEFAULT_LIMITS, Limits, decode_text, parse_json
from core.knowledge.loaders.shapes import as_dict, as_str, dicts
from core.knowledge.loaders.slack_messages import (
    SlackDirectory,
    find_workspace_url,
    permalink,
    slack_message,
    user_name,
)
from core.types import ChannelMessage, ChannelRef

_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
_UNSAFE_SCOPE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# Conversation lists an export may hold; DMs are stored in folders named by their id.
_CONVERSATION_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")


@dataclass(frozen=True)
class SlackExport:
    messages: list[ChannelMessage]
    fingerprint: str
    workspace: str
    channels: dict[str, ChannelRef]


def is_slack_export_folder(path: Path) -> bool:
    """A folder with ``channels.json`` and at least one channel folder of day files."""
    if not (path / "channels.json").is_file():
        return False
    try:
        for child in path.iterdir():
            if (
                child.is_dir()
                and not child.name.startswith(".")
                and any(_DAY_FILE.match(entry.name) for entry in child.iterdir())
            ):
                return True
    except OSError:
        return False
    return False


def open_export(path: Path, limits: Limits = DEFAULT_LIMITS) -> ExportFiles:
    return FolderExport(path, limits) if path.is_dir() else ZipExport(path, limits)


def workspace_label(name: str) -> str:
    """An export's name made safe for a scope (scopes are ``platform:workspace:channel``)."""
    stem = name[: -len(".zip")] if name.lower().endswith(".zip") else name
    return _UNSAFE_SCOPE_CHARS.sub("-", stem).strip("-") or "export"


def read_slack_export(path: Path, limits: Limits = DEFAULT_LIMITS) -> SlackExport:
    files = open_export(path, limits)
    try:
        return _read(files, limits)
    finally:
        files.close()


def _read(files: ExportFiles, limits: Limits) -> SlackExport:
    names = files.names()
    root = _root(files.name, names)

    def json_at(relative: str) -> Any:
        name = str(PurePosixPath(root) / relative) if root else relative
        if name not in names:
            return None
        return parse_json(decode_text(files.read(name), name), name)

    users_raw = dicts(json_at("users.json"))
    users = {as_str(user.get("id")): user_name(user) for user in users_raw if as_str(user.get("id"))}

    folders: dict[str, tuple[str, str]] = {}  # folder -> (channel id, channel name)
    for listing in _CONVERSATION_LISTS:
        for entry in dicts(json_at(listing)):
            channel_id = as_str(entry.get("id"))
            channel_name = as_str(entry.get("name"))
            if not channel_id:
                continue
            folder = channel_name if listing != "dms.json" and channel_name else channel_id
            folders[folder] = (channel_id, channel_name or channel_id)

    # Each day file becomes messages as soon as it is parsed, and its raw objects are let go:
    # only one day's raw JSON is ever in memory. What needs every message (the team id when
    # users.json names none, the domain that permalinks need) is counted on the way and
    # applied at the end. The workspace is the team most users belong to, else the one most
    # messages name.
    team_from_users = _most_common_safe(Counter(as_str(user.get("team_id")) for user in users_raw))
    workspace = provisional = team_from_users or workspace_label(files.name)
    directory = SlackDirectory(users=users, channels={channel_id: name for channel_id, name in folders.values()})
    teams: Counter[str] = Counter()
    domains: Counter[str] = Counter()
    by_folder: dict[str, list[ChannelMessage]] = {}
    count = 0
    for name in names:
        parts = PurePosixPath(name).parts[len(PurePosixPath(root).parts) if root else 0 :]
        if len(parts) != 2 or not _DAY_FILE.match(parts[1]):
            continue
        day = parse_json(decode_text(files.read(name), name), name)
        if not isinstance(day, list):
            raise LoaderError(f"{name} in {files.name} should hold a list of messages.")
        read_here = by_folder.setdefault(parts[0], [])
        channel = _channel(parts[0], folders, workspace)
        for raw in day:
            if not isinstance(raw, dict):
                continue
            teams[as_str(raw.get("team"))] += 1
            if "file" in raw or "files" in raw:
                for file in [as_dict(raw.get("file")), *dicts(raw.get("files"))]:
                    domains[find_workspace_url(({"file": file},))] += 1
            message = slack_message(raw, channel, directory)
            if message is not None:
                read_here.append(message)
                count += 1
                if count > limits.max_export_messages:
                    raise LoaderError(
                        f"{files.name} holds more than {limits.max_export_messages:,} messages, "
                        "the limit for one export; export fewer channels or a shorter period."
                    )
        del day

    domains.pop("", None)
    workspace_url = domains.most_common(1)[0][0] if domains else ""
    if not team_from_users:
        workspace = _most_common_safe(teams) or workspace
    channels: dict[str, ChannelRef] = {}
    messages: list[ChannelMessage] = []
    for folder_name, folder_messages in sorted(by_folder.items()):
        channel = _channel(folder_name, folders, workspace)
        channels[channel.channel] = channel
        if workspace_url or workspace != provisional:
            # One message at a time, in place: a copy of the list would double the peak.
            for index, message in enumerate(folder_messages):
                link = permalink(workspace_url, channel.channel, message.id, thread_ts=message.thread_id) if workspace_url else None
                folder_messages[index] = replace(message, channel=channel, permalink=link)
        messages.extend(folder_messages)
        folder_messages.clear()
    messages.sort(key=lambda m: (m.timestamp, m.channel.channel, m.id))
    return SlackExport(messages=messages, fingerprint=files.fingerprint(), workspace=workspace, channels=channels)


def _channel(folder: str, folders: dict[str, tuple[str, str]], workspace: str) -> ChannelRef:
    channel_id, channel_name = folders.get(folder, (folder, folder))
    return ChannelRef(platform="slack", workspace=workspace, channel=channel_id, name=channel_name)


def _root(export_name: str, names: list[str]) -> str:
    """The folder inside the export that holds channels.json ("" when it is at the top)."""
    candidates = [
        PurePosixPath(name) for name in names if PurePosixPath(name).name == "channels.json" and not is_ignored(name)
    ]
    if not candidates:
        raise LoaderError(f"{export_name} is not a Slack workspace export: it has no channels.json.")
    shallowest = min(candidates, key=lambda p: (len(p.parts), str(p)))
    parent = str(shallowest.parent)
    return "" if parent == "." else parent


def _most_common_safe(seen: Counter[str]) -> str | None:
    """The team id most records name (the first seen among equals), if it is safe in a scope."""
    seen.pop("", None)
    if seen:
        team = seen.most_common(1)[0][0]
        if not _UNSAFE_SCOPE_CHARS.search(team):
            return team
    return None
