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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from core.errors import LoaderError
from core.knowledge.loaders.archive import ExportFiles, FolderExport, ZipExport, is_ignored
from core.knowledge.loaders.reading import DEFAULT_LIMITS, Limits, decode_text, parse_json
from core.knowledge.loaders.shapes import as_str, dicts
from core.knowledge.loaders.slack_messages import SlackDirectory, find_workspace_url, slack_message, user_name
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

    raw_by_folder: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        parts = PurePosixPath(name).parts[len(PurePosixPath(root).parts) if root else 0 :]
        if len(parts) != 2 or not _DAY_FILE.match(parts[1]):
            continue
        day = parse_json(decode_text(files.read(name), name), name)
        if not isinstance(day, list):
            raise LoaderError(f"{name} in {files.name} should hold a list of messages.")
        raw_by_folder.setdefault(parts[0], []).extend(item for item in day if isinstance(item, dict))

    all_raw = [raw for raws in raw_by_folder.values() for raw in raws]
    workspace = _team_id(users_raw, all_raw) or workspace_label(files.name)
    directory = SlackDirectory(
        users=users,
        channels={channel_id: name for channel_id, name in folders.values()},
        workspace_url=find_workspace_url(all_raw),
    )
    channels: dict[str, ChannelRef] = {}
    messages: list[ChannelMessage] = []
    for folder, raws in sorted(raw_by_folder.items()):
        channel_id, channel_name = folders.get(folder, (folder, folder))
        channel = ChannelRef(platform="slack", workspace=workspace, channel=channel_id, name=channel_name)
        channels[channel_id] = channel
        for raw in raws:
            message = slack_message(raw, channel, directory)
            if message is not None:
                messages.append(message)
    messages.sort(key=lambda m: (m.timestamp, m.channel.channel, m.id))
    return SlackExport(messages=messages, fingerprint=files.fingerprint(), workspace=workspace, channels=channels)


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


def _team_id(users: list[dict[str, Any]], raws: list[dict[str, Any]]) -> str | None:
    """The workspace's team id: the one most users belong to, else the one most messages name."""
    for records, key in ((users, "team_id"), (raws, "team")):
        seen = Counter(as_str(record.get(key)) for record in records)
        seen.pop("", None)
        if seen:
            team = seen.most_common(1)[0][0]
            if not _UNSAFE_SCOPE_CHARS.search(team):
                return team
    return None
