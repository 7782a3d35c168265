"""One Slack message model: ingest (the export and events-log loaders) and the digest path
(the Slack adapter's conversion of history) read every message the same way.

The same messages go through both paths: every real message in ../shared/data/slack/ (both
Events API logs and the workspace export), and a hand-built set covering each subtype, each
way a bot shows itself, threads and broadcasts, every kind of mention and link. Kind, who
sent it (person or bot), thread, reply, rendered text, author and permalink must agree.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.convert import is_from_person, plain_text, to_channel_message
from core.knowledge.loaders import read_messages
from core.knowledge.loaders.slack_messages import SlackDirectory, slack_message, user_name
from core.types import ChannelMessage, ChannelRef
from tests.fixtures_loaders import jsonl, zip_bytes

TEAM = "T0TEAM"
CHANNEL = ChannelRef("slack", TEAM, "C1", "general")
USERS = [
    {"id": "U1", "name": "ann.account", "team_id": TEAM, "profile": {"display_name": "Ann"}},
    {"id": "U2", "name": "bob", "team_id": TEAM, "profile": {"display_name": "", "real_name": "Bob B"}},
]
CHANNELS = [{"id": "C1", "name": "general"}, {"id": "C2", "name": "random"}]
NAMES = {"U1": "Ann", "U2": "Bob B"}
CHANNEL_NAMES = {"C1": "general", "C2": "random"}
ROOT = "1607340000.000100"


def ts(n: int) -> str:
    return f"{1607340000 + 60 * n}.{n:06d}"


# (message fields, kind, sent by a bot, thread id, reply to, rendered text); ts and channel
# are filled in. "ROOT" stands for the thread root's ts, "SELF" for the message's own ts.
CASES: list[tuple[str, dict[str, Any], str, bool, str | None, str | None, str]] = [
    ("plain", {"user": "U1", "text": "Deploys need two reviews"}, "message", False, None, None,
     "Deploys need two reviews"),
    ("user and channel mentions",
     {"user": "U1", "text": "<@U2> see <#C2> and <#C1|general>, <@U9> and <@U2|bobby>"},
     "message", False, None, None, "@Bob B see #random and #general, @U9 and @bobby"),
    ("channel mention with the empty label newer clients send", {"user": "U1", "text": "in <#C2|>"},
     "message", False, None, None, "in #random"),
    ("special mentions",
     {"user": "U1", "text": "<!here> <!channel|@channel> <!everyone> <!subteam^S1|@devs> <!subteam^S2> "
                            "<!date^1392734382^{date_short}|Feb 18, 2014> <!date^1392734382^{date}>"},
     "message", False, None, None, "@here @channel @everyone @devs @S2 Feb 18, 2014 2014-02-18 14:39 UTC"),
    ("links and entities",
     {"user": "U2", "text": "<https://ex.com/a?b=1&amp;c=2|docs> <https://ex.com/x> <mailto:a@b.io|a@b.io> "
                            "<mailto:a@b.io|mail me> <ssh://git@host/r.git> &lt;tag&gt; &amp;lt; R&amp;D"},
     "message", False, None, None,
     "docs (https://ex.com/a?b=1&c=2) https://ex.com/x a@b.io mail me (a@b.io) ssh://git@host/r.git <tag> &lt; R&D"),
    ("thread root", {"user": "U1", "text": "How do we deploy?", "thread_ts": "SELF", "reply_count": 2},
     "message", False, "SELF", None, "How do we deploy?"),
    ("thread root seen without its reply fields", {"user": "U1", "text": "root", "thread_ts": "SELF"},
     "message", False, "SELF", None, "root"),
    ("thread reply", {"user": "U2", "text": "make deploy", "thread_ts": "ROOT", "parent_user_id": "U1"},
     "message", False, "ROOT", "ROOT", "make deploy"),
    ("thread broadcast", {"user": "U2", "subtype": "thread_broadcast", "text": "shipped", "thread_ts": "ROOT",
                          "root": {"ts": ROOT, "thread_ts": ROOT, "user": "U1", "text": "How do we deploy?"}},
     "message", False, "ROOT", "ROOT", "shipped"),
    ("/me", {"user": "U1", "subtype": "me_message", "text": "is deploying"}, "message", False, None, None,
     "is deploying"),
    ("upload without text", {"user": "U1", "subtype": "file_share", "text": "",
                             "files": [{"title": "runbook.pdf", "name": "runbook.pdf"}]},
     "message", False, None, None, "[file: runbook.pdf]"),
    ("legacy upload with a comment", {"user": "U1", "subtype": "file_share", "text": "", "upload": True,
                                      "file": {"name": "-.clj", "initial_comment": {"comment": "like <@U2> said"}}},
     "message", False, None, None, "like @Bob B said\n[file: -.clj]"),
    ("legacy file comment", {"user": "U2", "subtype": "file_comment", "text": "looks right"}, "message", False,
     None, None, "looks right"),
    ("integration post in attachments", {"subtype": "bot_message", "bot_id": "B1", "username": "github", "text": "",
                                         "attachments": [{"pretext": "[repo] New issue", "title": "Leak",
                                                          "text": "core.async <https://gh.io/1|#1>"},
                                                         {"fallback": "only a fallback"}]},
     "bot", True, None, None, "[repo] New issue\nLeak\ncore.async #1 (https://gh.io/1)\nonly a fallback"),
    ("app with a bot token", {"user": "U0APP", "bot_id": "B2", "bot_profile": {"name": "CI", "app_id": "A1"},
                              "text": "build green", "app_id": "A1"},
     "bot", True, None, None, "build green"),
    ("bot id beside a user id", {"user": "U0OTHERBOT", "bot_id": "B3", "text": "bot with a user id"}, "bot", True,
     None, None, "bot with a user id"),
    ("bot reply broadcast to a thread", {"bot_id": "B2", "user": "U0APP", "subtype": "thread_broadcast",
                                         "text": "deployed", "thread_ts": "ROOT"},
     "bot", True, "ROOT", "ROOT", "deployed"),
    ("Slackbot", {"user": "USLACKBOT", "text": "Reminder: standup."}, "bot", True, None, None, "Reminder: standup."),
    ("join", {"user": "U2", "subtype": "channel_join", "text": "<@U2> has joined the channel"}, "join", False, None,
     None, "@Bob B has joined the channel"),
    ("private join", {"user": "U2", "subtype": "group_join", "text": "<@U2> has joined the group"}, "join", False,
     None, None, "@Bob B has joined the group"),
    ("leave", {"user": "U2", "subtype": "channel_leave", "text": "<@U2> has left the channel"}, "leave", False, None,
     None, "@Bob B has left the channel"),
    ("topic", {"user": "U1", "subtype": "channel_topic", "topic": "Deploys", "text": "set the topic: Deploys"},
     "topic", False, None, None, "set the topic: Deploys"),
    ("purpose", {"user": "U1", "subtype": "channel_purpose", "text": "set the purpose"}, "purpose", False, None, None,
     "set the purpose"),
    ("pin", {"user": "U1", "subtype": "pinned_item", "text": "pinned a message"}, "pin", False, None, None,
     "pinned a message"),
    ("unpin", {"user": "U1", "subtype": "unpinned_item", "text": "unpinned a message"}, "pin", False, None, None,
     "unpinned a message"),
    ("edit", {"subtype": "message_changed", "hidden": True,
              "message": {"user": "U1", "text": "edited", "ts": "1500000000.000001"}},
     "edit", False, None, None, ""),
    ("deletion", {"subtype": "message_deleted", "hidden": True, "deleted_ts": "1500000000.000002"}, "delete", False,
     None, None, ""),
    ("reply notice", {"subtype": "message_replied", "hidden": True,
                      "message": {"user": "U1", "text": "old root", "ts": "1500000000.000003",
                                  "thread_ts": "1500000000.000003", "reply_count": 1}},
     "system", False, None, None, ""),
    ("rename", {"user": "U1", "subtype": "channel_name", "text": "renamed the channel"}, "system", False, None, None,
     "renamed the channel"),
    ("archive", {"user": "U1", "subtype": "channel_archive", "text": "archived the channel"}, "system", False, None,
     None, "archived the channel"),
    ("bot added", {"user": "U1", "subtype": "bot_add", "bot_id": "B4", "text": "added an integration"}, "system",
     True, None, None, "added an integration"),
    ("legacy reply broadcast", {"user": "U2", "subtype": "reply_broadcast", "text": "",
                                "attachments": [{"text": "shipped"}]}, "system", False, None, None, ""),
    ("a subtype Slack adds later", {"user": "U1", "subtype": "huddle_thread", "text": "A huddle started"}, "system",
     False, None, None, "A huddle started"),
    ("hidden, so never in the channel's history", {"user": "U1", "hidden": True, "text": "ephemeral"}, "system",
     False, None, None, "ephemeral"),
]  # fmt: skip


def case_events() -> list[dict[str, Any]]:
    root = {"type": "message", "channel": "C1", "team": TEAM, "user": "U1", "text": "How do we deploy?",
            "ts": ROOT, "thread_ts": ROOT, "reply_count": 3}  # fmt: skip
    events = [root]
    for n, (_, fields, *_rest) in enumerate(CASES, start=1):
        event = {"type": "message", "channel": "C1", "team": TEAM, **fields, "ts": ts(n)}
        for key, value in list(event.items()):
            event[key] = {"ROOT": ROOT, "SELF": event["ts"]}.get(value, value) if isinstance(value, str) else value
        events.append(event)
    return events


def both_paths(events: list[dict[str, Any]], tmp_path: Path) -> Iterator[tuple[dict[str, Any], list[ChannelMessage]]]:
    """Each event with what every path made of it: the core model itself, the adapter (as
    SlackPlatform converts history), the export loader and the events-log loader."""
    export = {
        "channels.json": json.dumps(CHANNELS).encode(),
        "users.json": json.dumps(USERS).encode(),
        "general/2020-12-07.json": json.dumps(events).encode(),
    }
    (tmp_path / "export.zip").write_bytes(zip_bytes(export))
    (tmp_path / "acme-users.json").write_text(json.dumps(USERS))
    (tmp_path / "acme-channels.json").write_text(json.dumps(CHANNELS))
    (tmp_path / "acme-events.jsonl").write_bytes(jsonl(events))
    from_export = {m.id: m for m in read_messages(tmp_path / "export.zip")}
    from_log = {m.id: m for m in read_messages(tmp_path / "acme-events.jsonl")}
    assert len(from_export) == len(from_log) == len(events)
    directory = SlackDirectory(users=NAMES, channels=CHANNEL_NAMES)
    for event in events:
        core = slack_message(event, CHANNEL, directory)
        digest = to_channel_message(event, CHANNEL, names=NAMES, channel_names=CHANNEL_NAMES)
        assert core is not None
        yield event, [core, digest, from_export[event["ts"]], from_log[event["ts"]]]


@pytest.mark.parametrize("n", range(1, len(CASES) + 1), ids=[case[0] for case in CASES])
def test_each_subtype_reads_the_same_on_every_path(n: int, tmp_path: Path) -> None:
    _, _, kind, is_bot, thread_id, reply_to, text = CASES[n - 1]
    expected_thread = {"ROOT": ROOT, "SELF": ts(n)}.get(thread_id or "", thread_id)
    expected_reply = {"ROOT": ROOT}.get(reply_to or "", reply_to)
    event, results = next((e, r) for e, r in both_paths(case_events(), tmp_path) if e["ts"] == ts(n))
    first = results[0]
    assert all(result == first for result in results[1:]), [r for r in results if r != first]
    assert (first.kind, first.author.is_bot, first.thread_id, first.reply_to, first.text) == (
        kind,
        is_bot,
        expected_thread,
        expected_reply,
        text,
    )
    assert is_from_person(event) == (kind == "message" and bool(event.get("user")))


def test_authors_are_named_the_same_way_on_every_path(tmp_path: Path) -> None:
    named = {event["ts"]: results for event, results in both_paths(case_events(), tmp_path)}
    authors = {n: named[ts(n)][0].author for n in range(1, len(CASES) + 1)}
    by_case = {CASES[n - 1][0]: author for n, author in authors.items()}
    assert (by_case["plain"].id, by_case["plain"].name) == ("U1", "Ann")
    assert (by_case["integration post in attachments"].id, by_case["integration post in attachments"].name) == (
        "B1",
        "github",
    )
    assert (by_case["app with a bot token"].id, by_case["app with a bot token"].name) == ("U0APP", "CI")
    assert by_case["deletion"].name == "unknown"
    for results in named.values():
        assert len({r.author for r in results}) == 1


def test_adapter_plain_text_is_the_core_rendering() -> None:
    for _, fields, *_ in CASES:
        text = str(fields.get("text") or "")
        message = slack_message({"ts": "1.0", "user": "U1", "text": text}, CHANNEL, SlackDirectory(users=NAMES))
        assert message is not None
        assert plain_text(text, NAMES).strip() == message.text


# -- the real messages ---------------------------------------------------------------------------


def _names(path: Path) -> dict[str, str]:
    return {str(entry["id"]): user_name(entry) for entry in json.loads(path.read_text(encoding="utf-8"))}


def _compare(
    raws: list[dict[str, Any]],
    ingested: list[ChannelMessage],
    names: dict[str, str],
    channel_names: dict[str, str],
    workspace_url: str,
) -> Counter[str]:
    """Every raw message through the digest path, compared with what ingest made of it.
    Returns how many messages of each kind agreed, and how many differ only where the
    events log folds a later edit, deletion or reply notice into the message."""
    by_key = {(m.channel.channel, m.id): m for m in ingested}
    assert len(by_key) == len(ingested) == len(raws)
    edits = {(r["channel"], r["message"]["ts"]): r["message"] for r in raws if r.get("subtype") == "message_changed"}
    deleted = {(r["channel"], r["deleted_ts"]) for r in raws if r.get("subtype") == "message_deleted"}
    replied = {(r["channel"], r["message"]["thread_ts"]) for r in raws if r.get("subtype") == "message_replied"}
    seen: Counter[str] = Counter()
    for raw in raws:
        key = (str(raw["channel"]), str(raw["ts"]))
        stored = by_key[key]
        digest = to_channel_message(
            raw, stored.channel, names=names, channel_names=channel_names, workspace_url=workspace_url
        )
        # Who said it, as ingest read it before any later deletion folded into it.
        kind = digest.kind if stored.kind == "delete" else stored.kind
        person = kind == "message" and not stored.author.is_bot and stored.author.id == str(raw.get("user"))
        assert is_from_person(raw) == person
        if digest == stored:
            seen[digest.kind] += 1
        else:
            # Ingest reads a log as it happened; history already shows the message as it ended.
            if stored.kind == "delete" and digest.kind != "delete":
                assert key in deleted
                digest = replace(digest, kind="delete", text="")
            elif stored.text != digest.text:
                assert key in edits
                edited = to_channel_message(edits[key], stored.channel, names=names, channel_names=channel_names)
                assert stored.text == edited.text
                digest = replace(digest, text=edited.text)
            if stored.thread_id != digest.thread_id:
                assert key in replied and stored.thread_id == stored.id and digest.thread_id is None
                digest = replace(digest, thread_id=stored.id)
            assert digest == stored
            seen["folded"] += 1
    return seen


@pytest.mark.shared_data
@pytest.mark.parametrize("day", ["2018-02-01", "2018-02-02"])
def test_real_events_log_reads_the_same_through_ingest_and_history(shared_data: Path, day: str) -> None:
    folder = shared_data / "slack"
    path = folder / f"clojurians-events-{day}.jsonl"
    raws = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    ingested = read_messages(path)
    assert all((m.permalink or "").startswith("https://clojurians.slack.com/archives/") for m in ingested)
    seen = _compare(
        raws,
        ingested,
        _names(folder / "clojurians-users.json"),
        _names(folder / "clojurians-channels.json"),
        "https://clojurians.slack.com/",
    )
    assert seen["message"] > 500 and seen["bot"] > 5 and seen["join"] > 50 and seen["edit"] > 50
    assert seen["folded"] < 0.15 * len(raws)


@pytest.mark.shared_data
def test_real_export_reads_the_same_through_ingest_and_history(shared_data: Path) -> None:
    path = shared_data / "slack" / "export-2020-12-07-to-2021-03-14.zip"
    raws: list[dict[str, Any]] = []
    with zipfile.ZipFile(path) as archive:
        channels = {c["name"]: c["id"] for c in json.loads(archive.read("channels.json"))}
        users = {str(u["id"]): user_name(u) for u in json.loads(archive.read("users.json"))}
        for name in archive.namelist():
            folder, _, day = name.partition("/")
            if day.endswith(".json"):
                raws.extend({**raw, "channel": channels[folder]} for raw in json.loads(archive.read(name)))
    ingested = read_messages(path)
    assert all((m.permalink or "").startswith("https://racket.slack.com/archives/") for m in ingested)
    seen = _compare(raws, ingested, users, {v: k for k, v in channels.items()}, "https://racket.slack.com")
    assert seen["folded"] == 0
    assert seen["message"] > 150 and seen["join"] == 6 and seen["purpose"] == 1
