"""Builders for the small files the loader tests write into tmp dirs: one per format.

Each builder returns plain bytes or writes into a given folder, so unit tests and the
fuzz tests (which mutate these bytes) start from the same valid files.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

TEAM = "T0TEAM"
GENERAL = "C0GENERAL"
PRIVATE = "G0SECRET"

MARKDOWN = """---
title: Setting up Tidings
---
# Installing

Run `make run` and wait.

## Connecting Slack

Create an app from the manifest.
"""

RST = """Operations guide
================

Restart the bot with systemctl.
"""

HTML = """<!doctype html>
<html><head><title>Support hours</title><style>body { color: red }</style>
<script>alert("never indexed")</script></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>Support</h1>
<p>We answer <b>every</b> ticket within one day.</p>
<h2>Weekends</h2>
<ul><li>Saturday: 10-14</li><li>Sunday: closed</li></ul>
</body></html>
"""

FAQ_CSV = (
    "Question,Answer,Link,Category\n"
    "How do I reset my password?,Use the 'forgot password' link on the login page.,https://example.com/reset,account\n"
    ",,,\n"
    "Where is the office?,,https://example.com/office,misc\n"
    '"Can I pay by invoice?","Yes, for annual plans.\nAsk sales for a quote.",not-a-link,billing\n'
)

DISCORD_CSV_SEMICOLON = (
    "AuthorID;Author;Date;Content;Attachments;Reactions;\n"
    '"111";"alice#0001";"06-Dec-19 04:10 AM";"How do I sync the wallet?";"";"";\n'
    '"222";"bob#0002";"06-Dec-19 04:12 AM";"Delete the blocks folder\nand restart.";"https://cdn.example/a.png";"👍 (1)";\n'
    '"222";"bob#0002";"06-Dec-19 04:13 AM";"Pinned a message.";"";"";\n'
    '"111";"alice#0001";"06-Dec-19 09:00 PM";"Thanks, it worked.";"";"";\n'
)

DISCORD_CSV_COMMA = (
    "AuthorID,Author,Date,Content,Attachments,Reactions\n"
    '111,"alice#0001","07-Dec-19 08:00 AM","Is the node down?","",""\n'
    '222,"bob#0002","07-Dec-19 08:05 AM","Yes, maintenance until noon.","",""\n'
)


def slack_day(*messages: dict[str, Any]) -> bytes:
    return json.dumps(list(messages)).encode()


def slack_export_files(*, team: str | None = TEAM, domain_file: bool = False) -> dict[str, bytes]:
    """The files of a two-channel Slack export (general is public, secret-plans private)."""
    users = [
        {"id": "U1", "name": "alice.account", "profile": {"display_name": "Alice", "real_name": "Alice A"}},
        {"id": "U2", "name": "bob.account", "profile": {"display_name": "", "real_name": "Bob B"}},
    ]
    if team:
        for user in users:
            user["team_id"] = team
    channels = [{"id": GENERAL, "name": "general"}]
    groups = [{"id": PRIVATE, "name": "secret-plans"}]
    root_ts = "1607340000.000100"
    general_day = slack_day(
        {"type": "message", "subtype": "channel_join", "user": "U2", "text": "<@U2> has joined the channel",
         "ts": "1607339000.000100"},
        {"type": "message", "user": "U1", "text": "How do we deploy? See <#C0GENERAL|general> and <https://docs.example|the docs>",
         "ts": root_ts, "thread_ts": root_ts, "reply_count": 1},
        {"type": "message", "user": "U2", "text": "<@U1> with `make deploy` &amp; patience", "ts": "1607340060.000200",
         "thread_ts": root_ts, "parent_user_id": "U1"},
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "username": "deploybot",
         "text": "Deploy finished", "ts": "1607340100.000300"},
    )  # fmt: skip
    if domain_file:
        general_day = slack_day(
            *json.loads(general_day),
            {"type": "message", "user": "U1", "text": "", "ts": "1607340200.000400",
             "files": [{"title": "runbook.pdf", "permalink": "https://acme.slack.com/files/U1/F1/runbook.pdf"}]},
        )  # fmt: skip
    secret_day = slack_day(
        {"type": "message", "user": "U1", "text": "The merger closes Friday.", "ts": "1607400000.000100"},
    )
    return {
        "channels.json": json.dumps(channels).encode(),
        "groups.json": json.dumps(groups).encode(),
        "users.json": json.dumps(users).encode(),
        "general/2020-12-07.json": general_day,
        "secret-plans/2020-12-08.json": secret_day,
    }


def zip_bytes(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def discord_json(*, thread: bool = False, guild_id: str = "900") -> bytes:
    channel: dict[str, Any] = {"id": "700", "type": "GuildTextChat", "categoryId": "600", "category": "Help",
                               "name": "support"}  # fmt: skip
    if thread:
        channel = {"id": "701", "type": "GuildPublicThread", "categoryId": "700", "category": "support",
                   "name": "wallet trouble"}  # fmt: skip
    data = {
        "guild": {"id": guild_id, "name": "Komodo"},
        "channel": channel,
        "messages": [
            {"id": "1001", "type": "Default", "timestamp": "2020-01-05T10:00:00.123+00:00",
             "content": "My wallet shows zero balance", "author": {"id": "11", "name": "carol", "nickname": "Carol",
                                                                   "isBot": False}},
            {"id": "1002", "type": "Reply", "timestamp": "2020-01-05T10:02:00+00:00",
             "content": "Rescan the chain", "author": {"id": "12", "name": "dave", "isBot": False},
             "reference": {"messageId": "1001"}},
            {"id": "1003", "type": "GuildMemberJoin", "timestamp": "2020-01-05T10:03:00+00:00", "content": "",
             "author": {"id": "13", "name": "erin", "isBot": False}},
            {"id": "1004", "type": "Default", "timestamp": "2020-01-05T10:04:00+00:00", "content": "Ticket opened",
             "author": {"id": "14", "name": "ticketbot", "isBot": True}},
        ],
    }  # fmt: skip
    return json.dumps(data).encode()


def slack_events_lines() -> list[dict[str, Any]]:
    return [
        {"type": "message", "channel": "C1", "team": TEAM, "user": "U1", "text": "Anyone tried core.async?",
         "ts": "1517436000.000100"},
        {"type": "message", "channel": "C1", "team": TEAM, "user": "U2", "text": "yes, <@U1>", "ts": "1517436060.000200",
         "thread_ts": "1517436000.000100"},
        {"type": "message", "subtype": "message_replied", "channel": "C1", "hidden": True, "ts": "1517436061.000300",
         "message": {"type": "message", "user": "U1", "ts": "1517436000.000100", "thread_ts": "1517436000.000100",
                     "text": "Anyone tried core.async?"}},
        {"type": "message", "subtype": "channel_join", "channel": "C1", "team": TEAM, "user": "U3",
         "text": "<@U3> has joined the channel", "ts": "1517436100.000400"},
        {"type": "message", "subtype": "bot_message", "channel": "C1", "team": TEAM, "bot_id": "B1", "text": "",
         "attachments": [{"pretext": "New issue", "text": "core.async leaks"}], "ts": "1517436200.000500"},
        {"type": "message", "channel": "C1", "team": TEAM, "user": "U2", "text": "tpyo", "ts": "1517436300.000600"},
        {"type": "message", "subtype": "message_changed", "channel": "C1", "hidden": True, "ts": "1517436310.000700",
         "message": {"type": "message", "user": "U2", "text": "typo fixed", "ts": "1517436300.000600"}},
    ]  # fmt: skip


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def minimal_pdf(pages: list[str], *, title: str | None = None) -> bytes:
    """A valid PDF with each page's text in Helvetica, one line per line of it, written by hand
    (no PDF library needed)."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * index for index in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{page_id} 0 R" for page_id in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for index, text in enumerate(pages):
        content_id = page_ids[index] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {content_id} 0 R >>".encode()
        )
        escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in text.split("\n")]
        shown = " 0 -16 Td ".join(f"({line}) Tj" for line in escaped)
        stream = f"BT /F1 12 Tf 72 720 Td {shown} ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info_id = None
    if title is not None:
        objects.append(f"<< /Title ({title}) >>".encode())
        info_id = len(objects)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {info_id} 0 R" if info_id else "") + " >>"
    out.write(b"trailer\n" + trailer.encode() + b"\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def encrypted_pdf(text: str, password: str = "s3cret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf([text]))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


# One valid sample per supported suffix, for tests that run every loader.
def valid_samples() -> dict[str, bytes]:
    return {
        "guide.md": MARKDOWN.encode(),
        "notes.txt": b"Plain notes about the office coffee machine.\n",
        "ops.rst": RST.encode(),
        "page.html": HTML.encode(),
        "manual.pdf": minimal_pdf(["Page one text", "Page two text"]),
        "faq.csv": FAQ_CSV.encode(),
        "komodo-support-2019-Dec-06.csv": DISCORD_CSV_SEMICOLON.encode(),
        "channel.json": discord_json(),
        "export.zip": zip_bytes(slack_export_files()),
        "events.jsonl": jsonl(slack_events_lines()),
    }
