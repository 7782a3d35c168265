"""A log of Slack Events API ``message`` events, one JSON object a line (JSONL).

This is what a logging bot writes as Slack delivers events. Names are not in the events:
an optional ``*channels.json`` / ``*users.json`` next to the log (a list of ``{id, name}``
or a Slack ``users.json``, or an ``{id: name}`` object) names channels and people; the one
whose name shares the longest prefix with the log's name is used
(``clojurians-channels.json`` for ``clojurians-events-2018-02-01.jsonl``).

Edits, deletions and "a reply arrived" notices are applied to the message they concern
(new text, text removed, thread marked) and also kept as noise-kind messages of their own.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import LoaderError
from core.knowledge.loaders.reading import DEFAULT_LIMITS, Limits, decode_text, parse_json, read_bytes
from core.knowledge.loaders.shapes import as_dict, as_str
from core.knowledge.loaders.slack_messages import SlackDirectory, find_workspace_url, slack_message, user_name
from core.types import ChannelMessage, ChannelRef

log = logging.getLogger(__name__)

# A log cut off mid-write has a broken last line, always forgiven; beyond that, a file with
# more than this share of broken lines is not a log.
_MAX_BAD_LINE_SHARE = 0.1


def read_slack_events(path: Path, data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[ChannelMessage]:
    """The messages of the log at ``path`` whose bytes are ``data``; ``limits`` bound the name maps."""
    text = decode_text(data, path.name)
    events, bad_lines, lines, last_line_bad = _parse_lines(text, path.name)
    if not lines:
        return []
    if not events:
        raise LoaderError(f"{path.name} holds no Slack message events (one JSON object a line was expected).")
    if bad_lines - last_line_bad > _MAX_BAD_LINE_SHARE * lines:
        raise LoaderError(f"{path.name} is not a Slack events log: {bad_lines} of {lines} lines are not JSON objects.")
    if bad_lines:
        log.warning("%s: skipped %d unreadable lines of %d", path.name, bad_lines, lines)

    directory = SlackDirectory(
        users=_sibling_names(path, "users.json", limits),
        channels=_sibling_names(path, "channels.json", limits),
        workspace_url=find_workspace_url(events),
    )
    default_team = _most_common_team(events)
    messages: list[ChannelMessage] = []
    position: dict[tuple[str, str], int] = {}  # (channel, ts) -> index in messages

    for event in events:
        channel_id = as_str(event.get("channel"))
        if not channel_id:
            continue
        team = as_str(event.get("team")) or as_str(event.get("source_team")) or default_team
        channel = ChannelRef(
            platform="slack", workspace=team, channel=channel_id, name=directory.channels.get(channel_id, "")
        )
        message = slack_message(event, channel, directory)
        if message is None:
            continue
        _apply_to_original(event, message, channel_id, messages, position, directory, channel)
        position[(channel_id, message.id)] = len(messages)
        messages.append(message)

    messages.sort(key=lambda m: (m.timestamp, m.channel.channel, m.id))
    return messages


def _parse_lines(text: str, name: str) -> tuple[list[dict[str, Any]], int, int, bool]:
    """(message events, broken lines, non-blank lines, whether the last line is broken)."""
    events: list[dict[str, Any]] = []
    bad = 0
    lines = 0
    last_bad = False
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        lines += 1
        try:
            obj = parse_json(line, f"{name} line {number}")
        except LoaderError:
            obj = None
        last_bad = not isinstance(obj, dict)
        if not isinstance(obj, dict):
            bad += 1
            continue
        # Accept the Events API envelope as well as the bare event inside it.
        if obj.get("type") == "event_callback" and isinstance(obj.get("event"), dict):
            envelope_team = as_str(obj.get("team_id"))
            obj = dict(obj["event"])
            obj.setdefault("team", envelope_team)
        if obj.get("type") == "message":
            events.append(obj)
    return events, bad, lines, last_bad


def _apply_to_original(
    event: dict[str, Any],
    message: ChannelMessage,
    channel_id: str,
    messages: list[ChannelMessage],
    position: dict[tuple[str, str], int],
    directory: SlackDirectory,
    channel: ChannelRef,
) -> None:
    """Fold edits, deletions and reply notices into the message they are about."""
    inner = as_dict(event.get("message"))
    if message.kind == "edit" and inner:
        index = position.get((channel_id, as_str(inner.get("ts"))))
        edited = slack_message(inner, channel, directory)
        if index is not None and edited is not None and messages[index].kind == "message":
            messages[index] = replace(messages[index], text=edited.text)
    elif message.kind == "delete":
        index = position.get((channel_id, as_str(event.get("deleted_ts"))))
        if index is not None:
            messages[index] = replace(messages[index], text="", kind="delete")
    elif as_str(event.get("subtype")) == "message_replied" and inner:
        root_ts = as_str(inner.get("thread_ts"))
        index = position.get((channel_id, root_ts))
        if index is not None and messages[index].thread_id is None:
            messages[index] = replace(messages[index], thread_id=root_ts)


def _most_common_team(events: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for event in events:
        team = as_str(event.get("team")) or as_str(event.get("source_team"))
        if team:
            counts[team] = counts.get(team, 0) + 1
    return max(counts, key=lambda team: counts[team]) if counts else "events"


def _sibling_names(path: Path, suffix: str, limits: Limits) -> dict[str, str]:
    """id -> name from the best-matching ``*<suffix>`` file next to the log, if there is one."""
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.endswith(suffix) and p.is_file()]
    except OSError:
        return {}
    if not candidates:
        return {}
    best = max(candidates, key=lambda p: (_shared_prefix(p.name, path.name), p.name))
    try:
        data = parse_json(decode_text(read_bytes(best, limits), best.name), best.name)
    except LoaderError as exc:
        log.warning("ignoring %s: %s", best.name, exc)
        return {}
    names: dict[str, str] = {}
    if isinstance(data, dict):
        names = {str(key): as_str(value) for key, value in data.items() if as_str(value)}
    elif isinstance(data, list):
        for entry in data:
            if isinstance(entry, dict) and as_str(entry.get("id")):
                names[as_str(entry.get("id"))] = user_name(entry)
    return names


def _shared_prefix(a: str, b: str) -> int:
    """How many leading characters two file names share (``clojurians-`` for the sample data)."""
    count = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        count += 1
    return count
